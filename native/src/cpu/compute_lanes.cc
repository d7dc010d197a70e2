#include "cpu/compute_lanes.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>

namespace resnet {

ComputeLanes& ComputeLanes::instance() {
  static ComputeLanes* lanes = new ComputeLanes();  // intentionally leaked, see the declaration
  return *lanes;
}

int ComputeLanes::available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

void ComputeLanes::attach(const void* /*client*/) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::lock_guard<std::mutex> lock(mutex_);
  ++clients_;
}

void ComputeLanes::submit(const void* client, JobShape shape, Work work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (lanes_.empty()) {
    stop_ = false;
    capacity_ = available_cpus();
    busy_cpus_ = 0;
  }
  // Never more threads than CPUs: oversubscription only slows OpenMP down, and libgomp ends the whole
  // process (gomp_fatal) when it cannot create a thread, e.g. under a container's pids limit.
  const int threads = shape.threads > 0 ? std::min(shape.threads, capacity_) : capacity_;
  queue_.push_back(Job{client, threads, shape.exclusive ? capacity_ : threads, std::move(work)});
  // A lane for every queued job that no waiting lane can take, at most one per CPU (the most that can
  // run at once).
  if (static_cast<int>(queue_.size()) > idle_lanes_ && static_cast<int>(lanes_.size()) < capacity_) {
    lanes_.emplace_back([this] { loop(); });
  }
  wake_.notify_all();
}

bool ComputeLanes::head_fits() const {
  return !queue_.empty() && busy_cpus_ + queue_.front().cpus <= capacity_;
}

void ComputeLanes::detach(const void* client) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::vector<Job> dropped;  // destroyed after the lock is released: their captures may be heavy
  std::vector<std::thread> stopped;
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
    wake_.notify_all();  // the dropped head may have been what held the others back
    finished_.wait(lock, [&] { return running_.find(client) == running_.end(); });
    if (--clients_ == 0 && !lanes_.empty()) {
      stop_ = true;
      wake_.notify_all();
      stopped = std::move(lanes_);
      lanes_.clear();
    }
  }
  for (std::thread& lane : stopped) lane.join();
}

void ComputeLanes::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ++idle_lanes_;
      wake_.wait(lock, [&] { return (stop_ && queue_.empty()) || head_fits(); });
      --idle_lanes_;
      if (!head_fits()) return;  // stop_ with nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_cpus_ += job.cpus;
      ++running_[job.client];
      // Another job may fit beside this one (this lane took a head that left CPUs free).
      if (head_fits()) wake_.notify_one();
    }
    omp_set_num_threads(job.threads);
    try {
      job.work();
    } catch (...) {
      // Work reports its own failures; this only keeps a stray exception from ending the process.
    }
    job.work = nullptr;  // release the captures before announcing the finish
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_cpus_ -= job.cpus;
      auto running = running_.find(job.client);
      if (--running->second == 0) running_.erase(running);
    }
    wake_.notify_all();
    finished_.notify_all();
  }
}

}  // namespace resnet
