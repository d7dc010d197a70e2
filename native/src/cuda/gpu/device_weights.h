// The weights of one prepared graph on one device in one storage type: the packed blob of cuda_plan.h
// (filters in the storage type, biases in float32 for the unfused epilogue) plus, for 16-bit storage, each
// conv's bias in the storage type (the type cudnnConvolutionBiasActivationForward wants its bias in). One
// copy serves the executables of every batch size: DeviceWeightCache (the prepared graph's CUDA backend
// state) hands it out by (device, storage type) while an executable holds it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "backend.h"
#include "cuda/cuda_plan.h"
#include "cuda/gpu/device_memory.h"
#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

class DeviceWeights {
 public:
  /// Packs `graph`'s weights as `plan` lays them out and copies them to `device` (synchronously: this runs
  /// on a worker thread at compile time).
  static Result<std::shared_ptr<const DeviceWeights>> upload(const Graph& graph, const CudaPlan& plan, int device);

  /// Whether `plan` lays the weights out as the plan these were uploaded for (same offsets, same sizes):
  /// true for the plans of every batch size of one graph and storage type.
  bool matches(const CudaPlan& plan) const { return layout_ == layout_of(plan); }

  /// The packed blob on the device: a conv step's filter at blob() + filter_offset, its float32 bias at
  /// blob() + bias_offset.
  const uint8_t* blob() const { return blob_.as<const uint8_t>(); }
  /// The bias of the conv step `step` in the fused call's type: the storage type (the float32 bias itself
  /// for float32 storage).
  const void* fused_bias(const Step& step) const;

  size_t bytes() const { return blob_.bytes() + storage_biases_.bytes(); }

 private:
  static std::vector<size_t> layout_of(const CudaPlan& plan);

  DeviceBuffer blob_;
  DeviceBuffer storage_biases_;                // 16-bit storage only
  std::map<int, size_t> storage_bias_offset_;  // by graph op index
  std::vector<size_t> layout_;
};

/// The CUDA backend's state for one PreparedGraph: its device weights by (device, storage type; float32 and
/// tf32 share one copy), held weakly so that a copy lives exactly as long as an executable uses it.
class DeviceWeightCache {
 public:
  /// The weights `plan` needs on `device`: an existing copy (`*shared` = true) or a fresh upload. Uploads
  /// hold the cache's lock, so concurrent compiles of one graph make one copy.
  Result<std::shared_ptr<const DeviceWeights>> get(const Graph& graph, const CudaPlan& plan, int device, bool* shared);

 private:
  std::mutex mutex_;
  std::map<std::pair<int, StorageType>, std::weak_ptr<const DeviceWeights>> entries_;
};

}  // namespace cuda
}  // namespace resnet
