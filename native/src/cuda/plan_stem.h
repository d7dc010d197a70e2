// The stem's forms (cuda_plan.h's StemPlan): which forms a graph's first conv can take, their layouts and
// convs, and their filters. Plain C++, tested on the CPU (test/gpu/cuda-plan.test.ts runs every form's plan in a
// float64 interpreter).
//
// Space-to-depth, worked out. A conv with kernel k, stride s, padding p (dilation 1, one group) computes, in
// one dimension, out[o] = Σ_{t<k} w[t]·P[s·o + t] over the input padded by p zeros in front, P[i] = x[i − p].
// Write t = s·a + d (a < K = ⌈k/s⌉, d < s) and let S[Y][d] = P[s·Y + d], the space-to-depth of P in cells of
// s: then out[o] = Σ_{a<K} Σ_{d<s} w'[a][d]·S[o + a][d] with w'[a][d] = w[s·a + d] (zero for s·a + d ≥ k),
// a conv with kernel K, stride 1 and no padding over S, whose channels are the (d, c) pairs. It reads S rows
// 0 … out_size + K − 2, so S has out_size + K − 1 rows; a cell that reaches past the input (the bottom and
// right, however odd the size) holds zeros, which is what the original conv's padding reads there, or meets
// zero filter taps. In two dimensions the cells are s×s and channel (dy·s + dx)·C + c of S is input channel c
// at (s·Y + dy − p_h, s·X + dx − p_w). ResNet's 7×7 stride-2 padding-3 stem becomes a 4×4 stride-1 conv over
// 3·4 = 12 channels (stored as 16 in 16-bit storage), on (out + 3)² pixels.
#pragma once

#include <cstdint>

#include "cuda/cuda_plan.h"
#include "graph.h"

namespace resnet {
namespace cuda {

/// Channels of the graph input up to which a conv reading it is a stem: a space-to-depth cell then holds at
/// most 4·4 = 16 channels, one 16-byte vector of halves plus one.
constexpr int64_t kStemMaxChannels = 4;

/// The forms of `plan`'s stem, once its values and steps are laid out (direct: as planned) and before the
/// arena and the weight blob are placed: the filters' offsets stay 0 until the planner places them. `forms` is
/// empty when no conv step is a stem (see cuda_plan.h's StemForm), with a line in `unavailable` saying why.
StemPlan plan_stem(const Graph& graph, const CudaPlan& plan);

/// Writes the stem filter of `option` for the conv `op` (OIHW float, `in_channels` real input channels) at
/// `filter`, KRSC [k, option.kernel, option.stored_channels] in `storage`: the graph's weights placed as the
/// form reads them (see the top of this file), zero everywhere else. Rows k ≥ op.out_channels stay zero too.
void pack_stem_filter(const Op& op, const StemOption& option, int64_t in_channels, StorageType storage,
                      uint8_t* filter);

}  // namespace cuda
}  // namespace resnet
