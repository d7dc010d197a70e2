// RAII for CUDA graphs: a captured graph (cudaGraph_t) and its executable instance (cudaGraphExec_t),
// which a run replays with one launch. Move-only; destroyed on the device they were made on.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "cuda/gpu/device_memory.h"

namespace resnet {
namespace cuda {

/// A graph as stream capture returns it (only needed until it is instantiated).
class CapturedGraph {
 public:
  CapturedGraph() = default;
  /// Takes ownership of `graph` (may be null).
  explicit CapturedGraph(cudaGraph_t graph) : graph_(graph) {}
  CapturedGraph(CapturedGraph&& other) noexcept : graph_(std::exchange(other.graph_, nullptr)) {}
  CapturedGraph& operator=(CapturedGraph&& other) noexcept {
    CapturedGraph(std::move(other)).swap(*this);
    return *this;
  }
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  ~CapturedGraph() {
    if (graph_ && cudaGraphDestroy(graph_) != cudaSuccess) cudaGetLastError();
  }

  cudaGraph_t get() const { return graph_; }

 private:
  void swap(CapturedGraph& other) noexcept { std::swap(graph_, other.graph_); }
  cudaGraph_t graph_ = nullptr;
};

/// An instantiated graph, launched on a stream of its device.
class GraphExec {
 public:
  GraphExec() = default;
  /// Takes ownership of `exec`, instantiated on `device`.
  GraphExec(cudaGraphExec_t exec, int device) : exec_(exec), device_(device) {}
  GraphExec(GraphExec&& other) noexcept { swap(other); }
  GraphExec& operator=(GraphExec&& other) noexcept {
    GraphExec(std::move(other)).swap(*this);
    return *this;
  }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() {
    if (!exec_) return;
    ScopedDevice current(device_);
    if (cudaGraphExecDestroy(exec_) != cudaSuccess) cudaGetLastError();
  }

  cudaGraphExec_t get() const { return exec_; }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  void swap(GraphExec& other) noexcept {
    std::swap(exec_, other.exec_);
    std::swap(device_, other.device_);
  }

  cudaGraphExec_t exec_ = nullptr;
  int device_ = -1;
};

}  // namespace cuda
}  // namespace resnet
