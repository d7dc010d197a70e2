#include "cpu/compute_lanes.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace resnet {

ComputeLanes& ComputeLanes::instance() {
  static ComputeLanes* lanes = new ComputeLanes();  // intentionally leaked, see the declaration
  return *lanes;
}

namespace {

/// CPUs' worth of a cgroup CPU quota (a container's `--cpus`, a Kubernetes CPU limit), rounded up; 0
/// when there is none or it cannot be read. cgroup v2 (`cpu.max`: "QUOTA PERIOD" or "max PERIOD", in the
/// process's own cgroup) first, then cgroup v1's CFS files.
int cgroup_cpu_quota() {
  auto ceil_ratio = [](double quota, double period) {
    return quota > 0 && period > 0 ? static_cast<int>(std::ceil(quota / period)) : 0;
  };
  // The process's cgroup paths: "0::/path" (v2) and "N:cpu,cpuacct:/path" (v1's cpu controller).
  std::string unified, cpu;
  std::ifstream cgroups("/proc/self/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
    if (line.rfind("0::", 0) == 0) unified = line.substr(second + 1);
    if (controllers.find(",cpu,") != std::string::npos) cpu = line.substr(second + 1);
  }
  // Where the cgroup is not the mount's root (no cgroup namespace), its own files first, then the root's.
  for (const std::string& file : {"/sys/fs/cgroup" + unified + "/cpu.max", std::string("/sys/fs/cgroup/cpu.max")}) {
    std::ifstream max(file);
    std::string quota;
    double period = 0;
    if (max >> quota >> period) return quota == "max" ? 0 : ceil_ratio(std::atof(quota.c_str()), period);
  }
  for (const std::string& mount : {std::string("/sys/fs/cgroup/cpu"), std::string("/sys/fs/cgroup/cpu,cpuacct")}) {
    for (const std::string& dir : {mount + cpu, mount}) {
      std::ifstream quota_file(dir + "/cpu.cfs_quota_us");
      std::ifstream period_file(dir + "/cpu.cfs_period_us");
      double quota = 0, period = 0;
      if (quota_file >> quota && period_file >> period) return ceil_ratio(quota, period);  // quota -1: none
    }
  }
  return 0;
}

}  // namespace

int ComputeLanes::available_cpus() {
  static const int cpus = [] {
    int count = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) count = CPU_COUNT(&set);
    if (count <= 0) count = static_cast<int>(std::thread::hardware_concurrency());
    const int quota = cgroup_cpu_quota();
    if (quota > 0) count = count > 0 ? std::min(count, quota) : quota;
    return std::max(count, 1);
  }();
  return cpus;
}

void ComputeLanes::attach(const void* /*client*/) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::lock_guard<std::mutex> lock(mutex_);
  ++clients_;
}

void ComputeLanes::submit(const void* client, JobShape shape, Work work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (lanes_.empty()) stop_ = false;  // restarting after the last client left
  // Never more threads than CPUs: oversubscription only slows OpenMP down, and libgomp ends the whole
  // process (gomp_fatal) when it cannot create a thread, e.g. under a container's pids limit.
  const int threads = shape.threads > 0 ? std::min(shape.threads, capacity_) : capacity_;
  queue_.push_back(Job{client, threads, shape.exclusive ? capacity_ : threads, std::move(work)});
  try {
    add_lane_if_needed();
  } catch (...) {
    // No lane at all to run it (a thread limit): take the job back, so the caller's error is the only
    // outcome. With a lane already there, the job waits for it.
    if (lanes_.empty()) {
      queue_.pop_back();
      throw;
    }
  }
  wake_.notify_all();
}

bool ComputeLanes::head_fits() const { return !queue_.empty() && busy_cpus_ + queue_.front().cpus <= capacity_; }

int ComputeLanes::startable_jobs() const {
  int free = capacity_ - busy_cpus_;
  int count = 0;
  for (const Job& job : queue_) {
    if (job.cpus > free) break;  // first come, first started: nothing passes a job that must wait
    free -= job.cpus;
    ++count;
  }
  return count;
}

void ComputeLanes::add_lane_if_needed() {
  if (!stop_ && startable_jobs() > idle_lanes_ && static_cast<int>(lanes_.size()) < capacity_) {
    lanes_.emplace_back([this] { loop(); });
  }
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
      // The job this lane finished may have freed CPUs for several waiting jobs (a wide one for narrow ones).
      try {
        add_lane_if_needed();
      } catch (...) {
        // A thread limit: the jobs wait for the lanes there are.
      }
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
