#include "cuda/image_decoder_choice.h"

#include <mutex>

#include "status.h"

namespace resnet {
namespace cuda {

const char* image_decoder_kind_name(ImageDecoderKind kind) {
  switch (kind) {
    case ImageDecoderKind::kNvjpegHardware: return "nvjpeg-hardware";
    case ImageDecoderKind::kNvjpegGpu: return "nvjpeg-gpu";
    case ImageDecoderKind::kCpuWorkers: return "cpu-workers";
  }
  return "cpu-workers";
}

ImageDecoderChoice choose_image_decoder(const ImageDecoderFacts& facts) {
  ImageDecoderChoice choice;
  if (!facts.cuda_built) {
    choice.reason = cat("built without CUDA: ", facts.no_cuda_reason);
    return choice;
  }
  if (!facts.gpu) {
    choice.reason = cat("no GPU: ", facts.no_gpu_reason);
    return choice;
  }
  if (!facts.nvjpeg_loaded) {
    choice.reason = cat("nvJPEG not found: ", facts.nvjpeg_error);
    return choice;
  }
  choice.nvjpeg_path = facts.nvjpeg_path;
  choice.nvjpeg_version = facts.nvjpeg_version;
  const std::string library = cat("nvJPEG ", facts.nvjpeg_version, " from ", facts.nvjpeg_path);
  if (!facts.session) {
    choice.reason = cat(library, " loaded, but no nvJPEG handle could be made on device 0: ", facts.session_error);
    return choice;
  }
  if (facts.hardware_engines > 0) {
    choice.kind = ImageDecoderKind::kNvjpegHardware;
    choice.hardware_engines = facts.hardware_engines;
    choice.reason = cat(library, ": baseline JPEGs go to the ", facts.hardware_engines, " hardware JPEG engine",
                        facts.hardware_engines == 1 ? "" : "s",
                        ", other JPEGs to nvJPEG's GPU backend, other "
                        "formats to the CPU workers");
    return choice;
  }
  choice.kind = ImageDecoderKind::kNvjpegGpu;
  choice.reason = cat(library, ", no hardware JPEG engines (", facts.no_hardware_reason,
                      "): JPEGs go to nvJPEG's GPU backend, other formats to the CPU workers");
  return choice;
}

#ifndef RESNET_WITH_CUDA
// The CUDA build gathers the facts in gpu/image_decoder_probe.cc; this build has no GPU code at all.
ImageDecoderFacts image_decoder_facts() {
  ImageDecoderFacts facts;
  facts.no_cuda_reason =
      "this addon has no CUDA code (nvcc was not found when it was built, RESNET_CPU_ONLY was set, or it was built "
      "with node-gyp); images are decoded by the CPU workers";
  return facts;
}
#endif

const ImageDecoderChoice& image_decoder_choice() {
  static std::once_flag once;
  static const ImageDecoderChoice* choice = nullptr;
  std::call_once(once, [] { choice = new ImageDecoderChoice(choose_image_decoder(image_decoder_facts())); });
  return *choice;  // kept for the process, like the loaded library
}

}  // namespace cuda
}  // namespace resnet
