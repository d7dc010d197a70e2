// The compute lanes: the native threads on which every CPU forward (and compile) of the process runs.
//
// Thread policy
// -------------
// Debian's oneDNN is threaded with OpenMP (libgomp). OpenMP teams spin while they wait for work, and
// spinning teams that outnumber the cores lose most of their throughput (a busy neighbour cut oneDNN's
// throughput 6x on a 2-core machine). So:
//
// - All CPU work runs on dedicated lane threads (std::thread + one FIFO job queue), not on libuv's
//   threadpool: long jobs there starve fs and dns work.
// - CPU budget: each job takes `threads` of the CPUs this process may use (sched_getaffinity, capped by a
//   cgroup CPU quota: a container's CPU limit must not let side-by-side jobs oversubscribe it); jobs
//   start in submission order, each as soon as the running ones leave it enough CPUs. So OpenMP threads
//   never outnumber the cores. With the default (all CPUs per job) one job runs at a time and uses every
//   core; executables compiled with fewer threads run side by side (two 1-thread forwards on 2 cores),
//   each lane the master of its own small team (libgomp keeps one team per master thread). Side by side
//   they need no barrier between cores, so a core taken by another thread for a while delays one of them
//   instead of stalling both (the server's CPU instances; measured in native/README.md).
// - An exclusive job (a compile: it updates the weights that executables of one prepared graph share)
//   waits until nothing runs, and nothing starts beside it.
// - omp_set_num_threads(job's threads) is called on the lane before each job, compiles included:
//   oneDNN expects the same thread count when it creates a primitive and when it runs it.
// - Wait policy: libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it is loaded, so the JS
//   loader (lib/runtime/native.ts) sets OMP_WAIT_POLICY=PASSIVE (unless the user set it) before loading
//   the addon: idle team threads sleep at once instead of spinning, leaving the cores to the JS thread and
//   to neighbours. The measurements behind this choice are in native/README.md.
//
// Clients (Node-API environments: the main thread and workers) attach before submitting and detach at
// their environment's cleanup; lane threads start when more jobs could run at once than lanes wait (one per
// CPU at most) and stop when the last client leaves.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace resnet {

class ComputeLanes {
 public:
  using Work = std::function<void()>;

  /// The process's lanes. Never destroyed: a process that exits without running environment cleanup
  /// (process.exit) must not meet a joinable std::thread in a static destructor.
  static ComputeLanes& instance();

  /// The CPUs this process may use, read once: its CPU affinity, capped by a cgroup CPU quota (a
  /// container's CPU limit, rounded up). The CPU budget, and the default thread count.
  static int available_cpus();

  void attach(const void* client);
  /// Queues `work`; it runs with `shape.threads` OpenMP threads (0, or more than the CPUs: all of them).
  /// `work` must not throw.
  void submit(const void* client, JobShape shape, Work work);
  /// Drops the client's queued work, waits until none of its work runs, and stops the threads when no
  /// client is left. Call from the client's own thread, never from a lane.
  void detach(const void* client);

 private:
  struct Job {
    const void* client = nullptr;
    int threads = 1;  // OpenMP threads, 1..capacity
    int cpus = 1;     // what it takes from the budget: `threads`, or all of it when exclusive
    Work work;
  };

  ComputeLanes() = default;
  void loop();
  /// Whether the queue's head may start now. Caller holds mutex_.
  bool head_fits() const;
  /// Jobs from the head of the queue that could start now, side by side. Caller holds mutex_.
  int startable_jobs() const;
  /// Starts a lane when more jobs could start than lanes wait (at most one lane per CPU); throws what
  /// std::thread throws. Caller holds mutex_.
  void add_lane_if_needed();

  std::mutex lifecycle_;              // serialises attach/detach, so a join never races a new start
  std::mutex mutex_;                  // guards everything below
  std::condition_variable wake_;      // jobs, freed CPUs or stop, for the lanes
  std::condition_variable finished_;  // a job finished (detach waits on it)
  std::deque<Job> queue_;
  std::unordered_map<const void*, int> running_;  // running jobs by client
  const int capacity_ = available_cpus();
  int busy_cpus_ = 0;   // taken by running jobs
  int idle_lanes_ = 0;  // lanes waiting for a job
  int clients_ = 0;
  bool stop_ = false;
  std::vector<std::thread> lanes_;
};

}  // namespace resnet
