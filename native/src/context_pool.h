// A small pool of execution contexts for one Executable (TensorRT's engine/context split): each run
// borrows a context, so concurrent runs never share activation memory. With the CPU lane running one
// job at a time the pool holds one context; the seam is for backends that overlap runs.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "backend.h"

namespace resnet {

class ContextPool {
 public:
  explicit ContextPool(std::shared_ptr<const Executable> executable) : executable_(std::move(executable)) {}

  /// Adds a context made ahead of time (compile makes one, so that allocation failures surface there).
  void give(std::unique_ptr<ExecutionContext> context) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(context));
  }

  /// Runs the executable on a borrowed context (a new one when all are busy).
  Status run(const HostInput& input, const std::vector<float*>& outputs, RunStats* stats = nullptr) {
    std::unique_ptr<ExecutionContext> context = take();
    if (!context) {
      RESNET_ASSIGN_OR_RETURN(context, executable_->create_context());
    }
    Status status = executable_->run(*context, input, outputs, stats);
    give(std::move(context));
    return status;
  }

  const Executable& executable() const { return *executable_; }

 private:
  std::unique_ptr<ExecutionContext> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<ExecutionContext> context = std::move(idle_.back());
    idle_.pop_back();
    return context;
  }

  std::shared_ptr<const Executable> executable_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<ExecutionContext>> idle_;
};

}  // namespace resnet
