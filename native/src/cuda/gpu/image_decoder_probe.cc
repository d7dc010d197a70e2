// image_decoder_facts() of a CUDA build: a driver and a device, nvJPEG loadable, and one nvJPEG session made on
// device 0 (asking for the hardware backend) to read its engine count, dropped again at once.
#include <cuda_runtime.h>

#include "cuda/gpu/cuda_devices.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/device_memory.h"
#include "cuda/image_decoder_choice.h"
#include "cuda/nvjpeg_loader.h"
#include "cuda/nvjpeg_session.h"

namespace resnet {
namespace cuda {

ImageDecoderFacts image_decoder_facts() {
  ImageDecoderFacts facts;
  facts.cuda_built = true;
  Result<int> devices = cuda_device_count();
  if (!devices.ok()) {
    facts.no_gpu_reason = devices.status().message();
    return facts;
  }
  facts.gpu = true;
  Result<const NvjpegLibrary*> loaded = load_nvjpeg();
  if (!loaded.ok()) {
    facts.nvjpeg_error = loaded.status().message();
    return facts;
  }
  const NvjpegLibrary& library = *loaded.value();
  facts.nvjpeg_loaded = true;
  facts.nvjpeg_path = library.path;
  facts.nvjpeg_version = cat(library.major, ".", library.minor, ".", library.patch);
  ScopedDevice current(0);  // nvJPEG works on the calling thread's current device
  if (current.error() != cudaSuccess) {
    facts.session_error = cuda_error(current.error(), "making CUDA device 0 current").message();
    return facts;
  }
  Result<std::unique_ptr<NvjpegSession>> session = NvjpegSession::create(library.api, true);
  if (!session.ok()) {
    facts.session_error = session.status().message();
    return facts;
  }
  facts.session = true;
  facts.hardware_engines = session.value()->hardware_engines();
  facts.no_hardware_reason = session.value()->no_hardware_reason();
  return facts;
}

}  // namespace cuda
}  // namespace resnet
