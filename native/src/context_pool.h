// A small pool of execution contexts for one Executable (TensorRT's engine/context split): each run
// borrows a context, so concurrent runs never share activation memory. A context is made when all are busy
// (runs of one executable side by side: CPU executables with fewer threads than CPUs).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.h"

namespace resnet {

class ContextPool {
 public:
  explicit ContextPool(std::shared_ptr<const Executable> executable) : executable_(std::move(executable)) {}

  /// Adds a context made ahead of time (compile makes one, so that allocation failures surface there).
  void add(std::unique_ptr<ExecutionContext> context) {
    created_.fetch_add(1, std::memory_order_relaxed);
    give(std::move(context));
  }

  /// Runs the executable on a borrowed context (a new one when all are busy).
  Status run(const HostInput& input, const std::vector<float*>& outputs, RunStats* stats = nullptr) {
    std::unique_ptr<ExecutionContext> context = take();
    if (!context) {
      RESNET_ASSIGN_OR_RETURN(context, executable_->create_context());
      created_.fetch_add(1, std::memory_order_relaxed);
    }
    Status status = executable_->run(*context, input, outputs, stats);
    give(std::move(context));
    return status;
  }

  /// Contexts made so far, each holding the executable's activation memory: the most runs that overlapped.
  int context_count() const { return created_.load(std::memory_order_relaxed); }

  const Executable& executable() const { return *executable_; }

 private:
  void give(std::unique_ptr<ExecutionContext> context) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(context));
  }

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
  std::atomic<int> created_{0};
};

}  // namespace resnet
