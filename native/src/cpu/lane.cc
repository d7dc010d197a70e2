#include "cpu/lane.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <vector>

namespace resnet {

Lane& Lane::instance() {
  static Lane* lane = new Lane();  // intentionally leaked, see the declaration
  return *lane;
}

int Lane::available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

void Lane::attach(const void* /*client*/) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::lock_guard<std::mutex> lock(mutex_);
  ++clients_;
}

void Lane::submit(const void* client, int threads, Work work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!thread_.joinable()) {
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
  }
  queue_.push_back(Job{client, threads > 0 ? threads : available_cpus(), std::move(work)});
  wake_.notify_one();
}

void Lane::detach(const void* client) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::vector<Job> dropped;  // destroyed after the lock is released: their captures may be heavy
  std::thread stopped;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->client == client) {
        dropped.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    finished_.wait(lock, [&] { return running_client_ != client; });
    if (--clients_ == 0 && thread_.joinable()) {
      stop_ = true;
      wake_.notify_one();
      stopped = std::move(thread_);
    }
  }
  if (stopped.joinable()) stopped.join();
}

void Lane::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ with nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      running_client_ = job.client;
    }
    // Never more threads than CPUs: oversubscription only slows OpenMP down, and libgomp ends the whole
    // process (gomp_fatal) when it cannot create a thread, e.g. under a container's pids limit.
    omp_set_num_threads(std::max(1, std::min(job.threads, available_cpus())));
    try {
      job.work();
    } catch (...) {
      // Work reports its own failures; this only keeps a stray exception from ending the process.
    }
    job.work = nullptr;  // release the captures before announcing the finish
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_client_ = nullptr;
    }
    finished_.notify_all();
  }
}

}  // namespace resnet
