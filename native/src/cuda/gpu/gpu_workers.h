// The CUDA backend's host threads: a small fixed pool (kThreads per process) that runs every CUDA compile
// and run of the process, FIFO across clients. A run's thread enqueues the whole forward (one CUDA graph
// launch) and then waits for its stream, so up to kThreads runs overlap on the GPU, each on its own
// execution context; runs of different executables and devices interleave. The JS thread never waits on
// the GPU: it only queues work here.
//
// Lifecycle as the CPU lanes' (cpu/compute_lanes.h): clients (Node-API environments) attach before submitting and
// detach at their environment's cleanup; the threads start with the first job and are joined when the last
// client leaves. The pool itself is never destroyed (a process that exits without environment cleanup must
// not meet joinable threads in a static destructor).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace resnet {
namespace cuda {

class GpuWorkers {
 public:
  using Work = std::function<void()>;

  /// Runs in flight at once: enough to overlap one run's copies and host work with another's kernels,
  /// few enough that each context's activation memory stays affordable (at most this many per executable).
  static constexpr int kThreads = 4;

  static GpuWorkers& instance();

  void attach(const void* client);
  /// Queues `work` (which must not throw) for `client`.
  void submit(const void* client, Work work);
  /// Drops the client's queued work, waits until none of its work runs, and joins the threads when no
  /// client is left. Call from the client's own thread, never from a worker.
  void detach(const void* client);

  /// Runs `release` (which frees GPU resources: cudaFree and friends synchronise with the device) on a
  /// worker while the workers run, so that a JS-thread finalizer never waits for the GPU; inline when they
  /// do not. Callable from any thread, workers included. `release` must not throw.
  void release(Work release);

 private:
  struct Job {
    const void* client;  // nullptr for releases, which no detach drops
    Work work;
  };

  GpuWorkers() = default;
  void loop();

  std::mutex lifecycle_;              // serialises attach/detach, so a join never races a new start
  std::mutex mutex_;                  // guards everything below
  std::condition_variable wake_;      // jobs or stop for the workers
  std::condition_variable finished_;  // a job finished (detach waits on it)
  std::deque<Job> queue_;
  std::unordered_map<const void*, int> running_;  // jobs running, per client
  int clients_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cuda
}  // namespace resnet
