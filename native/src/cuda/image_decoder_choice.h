// Which image decoder the server gets on this machine, and why: nvJPEG with the hardware JPEG engines, nvJPEG's
// GPU backend, or the CPU workers. The decision is a pure function of the facts (choose_image_decoder, tested
// on its own); gathering the facts (a driver and a device, nvJPEG loadable, a handle that reports its engines)
// is image_decoder_facts(), in gpu/image_decoder_probe.cc for CUDA builds and image_decoder_info.cc otherwise.
#pragma once

#include <string>

namespace resnet {
namespace cuda {

/// What the machine and the build offer the image decoder.
struct ImageDecoderFacts {
  bool cuda_built = false;
  std::string no_cuda_reason;  // why this build has no CUDA
  bool gpu = false;
  std::string no_gpu_reason;  // no driver, no device
  bool nvjpeg_loaded = false;
  std::string nvjpeg_error;  // load_nvjpeg's message: every path tried, and the fixes
  std::string nvjpeg_path, nvjpeg_version;
  bool session = false;  // an nvJPEG handle could be made on device 0
  std::string session_error;
  int hardware_engines = 0;  // nvjpegGetHardwareDecoderInfo on a hardware-backend handle
  std::string no_hardware_reason;
};

enum class ImageDecoderKind { kNvjpegHardware, kNvjpegGpu, kCpuWorkers };

/// "nvjpeg-hardware", "nvjpeg-gpu", "cpu-workers" (the values info() reports).
const char* image_decoder_kind_name(ImageDecoderKind kind);

struct ImageDecoderChoice {
  ImageDecoderKind kind = ImageDecoderKind::kCpuWorkers;
  int hardware_engines = 0;
  std::string reason;                       // one sentence (or the loader's full message) saying why
  std::string nvjpeg_path, nvjpeg_version;  // when nvJPEG loaded
};

/// The decoder the facts allow, best first: hardware engines, then nvJPEG's GPU backend, then the CPU workers.
ImageDecoderChoice choose_image_decoder(const ImageDecoderFacts& facts);

/// The facts of this process (loads nvJPEG and, on a GPU, makes and drops one nvJPEG handle on device 0).
ImageDecoderFacts image_decoder_facts();

/// choose_image_decoder(image_decoder_facts()), computed once per process and cached.
const ImageDecoderChoice& image_decoder_choice();

}  // namespace cuda
}  // namespace resnet
