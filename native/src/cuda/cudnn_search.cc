// Where cuDNN's loader looks: its search spec for library_search.h (the candidate list itself is shared with
// nvJPEG's loader) and the sub-libraries preloaded beside a libcudnn.so.9.
#include "cuda/cudnn_loader.h"

namespace resnet {
namespace cuda {

const char* const kCudnnSublibraries[7] = {
    "libcudnn_graph.so.9",
    "libcudnn_ops.so.9",
    "libcudnn_cnn.so.9",
    "libcudnn_adv.so.9",
    "libcudnn_heuristic.so.9",
    "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
};

const LibrarySearchSpec& cudnn_search_spec() {
  static const LibrarySearchSpec* spec = new LibrarySearchSpec{
      kCudnnPathVariable, {"libcudnn.so.9"}, {"nvidia.cudnn"}, {"nvidia/cudnn/lib"}, "Python package nvidia-cudnn"};
  return *spec;
}

std::vector<LoaderCandidate> cudnn_candidates(const LoaderEnvironment& environment) {
  return library_candidates(cudnn_search_spec(), environment);
}

}  // namespace cuda
}  // namespace resnet
