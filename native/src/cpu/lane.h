// The compute lane: the one native thread on which every CPU forward (and compile) of the process runs.
//
// Thread policy
// -------------
// Debian's oneDNN is threaded with OpenMP (libgomp). OpenMP teams spin while they wait for work, and
// spinning teams that outnumber the cores lose most of their throughput (a busy neighbour cut oneDNN's
// throughput 6x on a 2-core machine). So:
//
// - All CPU work runs on ONE dedicated thread, this lane (std::thread + FIFO job queue), not on libuv's
//   threadpool: long jobs there starve fs and dns work, and several of them would each bring an OpenMP
//   team. Concurrent forward() calls queue FIFO here, and each uses all its threads in turn, so they never
//   oversubscribe the cores; libgomp keeps one thread pool per master thread, so the one team is reused.
// - Thread count: the executable's `threads` option, by default the CPUs this process may run on
//   (sched_getaffinity). omp_set_num_threads is called on the lane before each job, compiles included:
//   oneDNN expects the same thread count when it creates a primitive and when it runs it, and primitives
//   are created here too.
// - Wait policy: libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it is loaded, so the JS
//   loader (lib/runtime/native.ts) sets OMP_WAIT_POLICY=PASSIVE (unless the user set it) before loading
//   the addon: idle team threads sleep at once instead of spinning, leaving the cores to the JS thread and
//   to neighbours. The measurements behind this choice are in native/README.md.
//
// Clients (Node-API environments: the main thread and workers) attach before submitting and detach at
// their environment's cleanup; the thread starts with the first job and stops when the last client leaves.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace resnet {

class Lane {
 public:
  using Work = std::function<void()>;

  /// The process's lane. Never destroyed: a process that exits without running environment cleanup
  /// (process.exit) must not meet a joinable std::thread in a static destructor.
  static Lane& instance();

  /// The number of CPUs this process may run on (the default thread count).
  static int available_cpus();

  void attach(const void* client);
  /// Queues `work`; it runs with `threads` OpenMP threads (0: available_cpus()). `work` must not throw.
  void submit(const void* client, int threads, Work work);
  /// Drops the client's queued work, waits until none of its work runs, and stops the thread when no
  /// client is left. Call from the client's own thread, never from the lane.
  void detach(const void* client);

 private:
  struct Job {
    const void* client;
    int threads;
    Work work;
  };

  Lane() = default;
  void loop();

  std::mutex lifecycle_;  // serialises attach/detach, so a join never races a new start
  std::mutex mutex_;      // guards everything below
  std::condition_variable wake_;     // jobs or stop for the lane
  std::condition_variable finished_; // a job finished (detach waits on it)
  std::deque<Job> queue_;
  const void* running_client_ = nullptr;
  int clients_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace resnet
