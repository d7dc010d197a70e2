#include "cuda/gpu/device_weights.h"

#include <cuda_runtime.h>

#include <cstring>

#include "cuda/gpu/cuda_status.h"
#include "cuda/kernel_math.h"

namespace resnet {
namespace cuda {
namespace {

size_t align_up(size_t bytes) { return (bytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment; }

// Host → device copy of `bytes` at `host` into `buffer` (made on `device`).
Status copy_to_device(const DeviceBuffer& buffer, const void* host, size_t bytes, const char* what) {
  if (bytes == 0) return Status();
  ScopedDevice current(buffer.device());
  RESNET_CUDA_CHECK(current.error(), cat("making device ", buffer.device(), " current"));
  RESNET_CUDA_CHECK(cudaMemcpy(buffer.get(), host, bytes, cudaMemcpyHostToDevice), what);
  // A pageable cudaMemcpy returns once the bytes are staged, before the DMA has landed, and the contexts'
  // non-blocking streams do not wait for the legacy stream that carries it: wait here.
  RESNET_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy), what);
  return Status();
}

}  // namespace

std::vector<size_t> DeviceWeights::layout_of(const CudaPlan& plan) {
  std::vector<size_t> layout{static_cast<size_t>(plan.storage), plan.weight_blob_bytes};
  for (const Step& step : plan.steps) {
    if (step.kind != StepKind::kConv) continue;
    layout.insert(layout.end(), {static_cast<size_t>(step.op_index), step.filter_offset, step.filter_bytes,
                                 step.bias_offset, step.bias_bytes});
  }
  return layout;
}

Result<std::shared_ptr<const DeviceWeights>> DeviceWeights::upload(const Graph& graph, const CudaPlan& plan,
                                                                   int device) {
  auto weights = std::make_shared<DeviceWeights>();
  weights->layout_ = layout_of(plan);
  std::vector<uint8_t> blob;
  std::vector<uint8_t> storage_biases;
  try {
    blob.assign(plan.weight_blob_bytes, 0);
    pack_weights(graph, plan, blob.data());
    if (plan.storage != StorageType::kFloat32) {
      // The fused call adds a bias of y's type: the float32 biases rounded to the storage type, as the
      // unfused epilogue would round its float sum.
      size_t end = 0;
      for (const Step& step : plan.steps) {
        if (step.kind != StepKind::kConv) continue;
        weights->storage_bias_offset_[step.op_index] = end;
        end += align_up(step.bias_bytes / sizeof(float) * storage_bytes(plan.storage));
      }
      storage_biases.assign(end, 0);
      for (const Step& step : plan.steps) {
        if (step.kind != StepKind::kConv) continue;
        const size_t count = step.bias_bytes / sizeof(float);
        uint8_t* target = storage_biases.data() + weights->storage_bias_offset_[step.op_index];
        for (size_t c = 0; c < count; ++c) {
          float bias = 0.0f;
          std::memcpy(&bias, blob.data() + step.bias_offset + c * sizeof(float), sizeof bias);
          store(target, plan.storage, static_cast<int64_t>(c), bias);
        }
      }
    }
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory,
                  cat("out of host memory while packing ", plan.weight_blob_bytes, " bytes of weights for the GPU"));
  }
  RESNET_ASSIGN_OR_RETURN(weights->blob_, DeviceBuffer::allocate(device, blob.size(), "the weights"));
  RESNET_RETURN_IF_ERROR(copy_to_device(weights->blob_, blob.data(), blob.size(), "copying the weights to the GPU"));
  RESNET_ASSIGN_OR_RETURN(weights->storage_biases_,
                          DeviceBuffer::allocate(device, storage_biases.size(), "the 16-bit biases"));
  RESNET_RETURN_IF_ERROR(copy_to_device(weights->storage_biases_, storage_biases.data(), storage_biases.size(),
                                        "copying the 16-bit biases to the GPU"));
  return std::shared_ptr<const DeviceWeights>(std::move(weights));
}

const void* DeviceWeights::fused_bias(const Step& step) const {
  auto found = storage_bias_offset_.find(step.op_index);
  if (found == storage_bias_offset_.end()) return blob() + step.bias_offset;
  return storage_biases_.as<const uint8_t>() + found->second;
}

Result<std::shared_ptr<const DeviceWeights>> DeviceWeightCache::get(const Graph& graph, const CudaPlan& plan,
                                                                    int device, bool* shared) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::weak_ptr<const DeviceWeights>& entry = entries_[{device, plan.storage}];
  if (auto live = entry.lock()) {
    if (live->matches(plan)) {
      *shared = true;
      return live;
    }
  }
  *shared = false;
  RESNET_ASSIGN_OR_RETURN(std::shared_ptr<const DeviceWeights> weights, DeviceWeights::upload(graph, plan, device));
  // A copy laid out differently (which plans of one graph and precision never are) replaces the entry:
  // the older one lives on with its executables, unshared.
  entry = weights;
  return weights;
}

}  // namespace cuda
}  // namespace resnet
