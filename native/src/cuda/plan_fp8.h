// How the CUDA backend runs a quantized graph (precision int8, lib/compile/graph.ts "Quantized graphs"): its
// integer convs as FP8 E4M3 convs through cuDNN's graph API on Hopper (sm_90+; research: cuDNN's FP8 conv
// engines are the runtime-fusion ones, Support Surface 90), everything else in FP16. Planned here, apart from
// launching, so that it is tested without a GPU.
//
// Which convs run FP8: a conv op (not a linear layer) with weight scales whose src, dst (and residual) are
// quantized, in one group, over input and output channel counts that are multiples of 16 (FP8's 16-byte
// vectors: cuDNN's FP8 mainloop needs 128-bit aligned NHWC rows), reading anything but the graph input (the
// stem: cuDNN gives a 3-channel FP8 input no plan). The others run as the float16 plan runs them, reading and
// writing real values.
//
// Scales. An int8 value with scale s holds the reals [−127s, 127s] (uint8: [0, 255s]): its threshold T is
// 127s (255s), past which the CPU's integers saturate. FP8 stores real / s8 with s8 = T / 448, E4M3's largest
// finite value, so that the same T saturates (the conversions saturate at ±448) and the whole E4M3 range is
// used: the codes' relative precision is the same in every binade (3 mantissa bits), and the larger the codes
// the fewer values fall into the subnormals. Weights are different: they are already integers q ∈ [−127,
// 127] on the grid of their channel's scale w[k] (weight = w[k]·q), so FP8 holds q itself with scale w[k]:
// 127 < 448 never saturates, |q| ≤ 16 is exact (most of a bell-shaped weight channel), larger q round to
// 3 mantissa bits. A conv then computes acc = Σ x8·q in FP32 (cuDNN's FP8 tensor cores, FP32 accumulation),
// and the real output is y = relu(s8x·w[k]·acc + b[k] + r).
//
// The epilogue, folded into one chain cuDNN's runtime fusion accepts (every op reads the previous op's result
// first; a scale tensor may not be applied to the residual alone): with d the residual's divisor (its s8 when
// the residual is stored FP8, else 1) and o the output's (its s8 when y is stored FP8, else 1), and d = o when
// there is no residual,
//     y / o = γ · relu(α[k]·acc + β[k] [+ r / d]),   α[k] = s8x·w[k] / d,  β[k] = b[k] / d,  γ = d / o > 0,
// since a positive factor commutes with ReLU. The graph is conv → MUL α [1,K,1,1] → ADD β [1,K,1,1] →
// [ADD residual] → [RELU] → [MUL γ [1,1,1,1], when γ ≠ 1] → y in FP8 (or FP16 where y's readers are float).
//
// Storage of values: a value written by an FP8 conv is stored FP8 when some FP8 conv reads it as its source
// (or only FP8 convs read it, as a residual); otherwise (the stem's output, pooling and linear inputs, outputs)
// FP16. Where a reader needs the other storage the plan adds a conversion step after the writer (FP16 → FP8
// for an FP8 conv's source, e.g. the max pool after the FP16 stem; FP8 → FP16 for a float reader). An FP8
// conv's residual is read in either storage, so residuals never need one.
#pragma once

#include <string>
#include <vector>

#include "cuda/cuda_plan.h"
#include "cuda/plan_layout.h"
#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// The threshold T / 448 of a quantized value (s8 above); 0 for a float one.
float fp8_scale_of(const ValueQuant& quant);

/// What plan_fp8 decides for an int8 plan.
struct Fp8Layout {
  std::vector<bool> fp8_conv;         // by op: runs as an FP8 conv
  std::vector<StorageType> storage;   // by value: the storage its writer writes
  std::vector<bool> needs_fp8_copy;   // by value: stored FP16, and an FP8 conv reads it as its source
  std::vector<bool> needs_fp16_copy;  // by value: stored FP8, and a float op or an output reads it
  std::vector<std::string> notes;     // per conv left in FP16, why
};

/// The FP8 layout of a validated quantized graph laid out by plan_layout (FP16 channel padding).
Fp8Layout plan_fp8(const Graph& graph, const GraphLayout& layout);

/// OK on a device that runs FP8 convs (compute capability 9.0 or newer); else kUnsupported saying that int8
/// on the GPU needs Hopper and what to use instead.
Status fp8_device_support(int major, int minor);

}  // namespace cuda
}  // namespace resnet
