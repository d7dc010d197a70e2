// The host input of one run: its element type and layout, and where its bytes are. A batch need not be one
// array: a server lays the requests of a batch end to end as segments (each request's bytes where its body
// was read), and the backend reads them in order — the CUDA backend by one DMA per segment into the device
// input, the CPU backend in its conversion pass — so nothing assembles the batch on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace resnet {

/// Element type of a run's input.
enum class InputType { kFloat32, kUint8, kFloat16 };

/// Layout of a run's input: NCHW (PyTorch's default), or NHWC (what image decoders produce; [N, H, W, C]).
enum class InputLayout { kNchw, kNhwc };

struct InputFormat {
  InputType type = InputType::kFloat32;
  InputLayout layout = InputLayout::kNchw;
  bool operator==(const InputFormat& other) const { return type == other.type && layout == other.layout; }
};

/// Distinct input formats (types × layouts): backends that keep something per format size arrays with it.
constexpr int kInputFormatCount = 6;

/// 0 .. kInputFormatCount-1, distinct per format.
inline int input_format_index(InputFormat format) {
  return static_cast<int>(format.type) * 2 + static_cast<int>(format.layout);
}

/// "float32", "uint8", "float16".
const char* input_type_name(InputType type);
/// "nchw", "nhwc".
const char* input_layout_name(InputLayout layout);
/// "uint8 nhwc" and the like.
const char* input_format_name(InputFormat format);

/// Bytes of one element of `type`.
inline size_t input_element_bytes(InputType type) {
  return type == InputType::kUint8 ? 1 : type == InputType::kFloat16 ? 2 : 4;
}

/// A run of bytes of the input, in order; its length is a whole number of elements.
struct InputSegment {
  const void* data = nullptr;
  size_t bytes = 0;
};

/// The host input of one run: batch · C · H · W elements of `format`, as segments laid end to end.
struct HostInput {
  std::vector<InputSegment> segments;
  InputFormat format;

  HostInput() = default;
  HostInput(const void* data, size_t bytes, InputFormat input_format) : segments{{data, bytes}}, format(input_format) {}

  size_t bytes() const {
    size_t total = 0;
    for (const InputSegment& segment : segments) total += segment.bytes;
    return total;
  }
};

/// Per-channel normalisation applied to the input before the first op, fused into the input conversion where
/// the backend can: x' = (x * scale - mean[c]) / std[c]. `scale` is typically 1/255 for uint8 pixels
/// (torchvision's ToTensor followed by Normalize). It applies to the input types in `applies_to` (a bit per
/// InputType): a server normalises pixels but takes float tensors as the model's input as they are.
struct InputNormalization {
  bool enabled = false;
  float scale = 1.0f;
  std::vector<float> mean;  // one per input channel
  std::vector<float> std;   // one per input channel, each > 0
  uint32_t applies_to = 0x7;

  bool applies(InputType type) const { return enabled && (applies_to >> static_cast<int>(type) & 1u) != 0; }
};

/// The input as NCHW float32 (`n·channels·h·w` values into `dst`), normalised where `normalization` applies to
/// its type: what the CPU backend runs on. The segments must hold exactly that many elements.
void convert_input_to_nchw_float(const HostInput& input, int64_t n, int64_t channels, int64_t h, int64_t w,
                                 const InputNormalization& normalization, float* dst);

}  // namespace resnet
