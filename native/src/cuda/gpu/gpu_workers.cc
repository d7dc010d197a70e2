#include "cuda/gpu/gpu_workers.h"

namespace resnet {
namespace cuda {

GpuWorkers& GpuWorkers::instance() {
  static GpuWorkers* workers = new GpuWorkers();  // intentionally leaked, see the header
  return *workers;
}

void GpuWorkers::attach(const void* /*client*/) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_);
  std::lock_guard<std::mutex> lock(mutex_);
  ++clients_;
}

void GpuWorkers::submit(const void* client, Work work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (threads_.empty()) {
    stop_ = false;
    for (int i = 0; i < kThreads; ++i) threads_.emplace_back([this] { loop(); });
  }
  queue_.push_back(Job{client, std::move(work)});
  wake_.notify_one();
}

void GpuWorkers::release(Work release) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!threads_.empty() && !stop_) {
      queue_.push_back(Job{nullptr, std::move(release)});
      wake_.notify_one();
      return;
    }
  }
  try {
    release();
  } catch (...) {
    // Freeing reports nothing; this only keeps a stray exception from crossing into a destructor.
  }
}

void GpuWorkers::detach(const void* client) {
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
    finished_.wait(lock, [&] {
      auto running = running_.find(client);
      return running == running_.end() || running->second == 0;
    });
    running_.erase(client);
    if (--clients_ == 0 && !threads_.empty()) {
      // The workers finish what is queued (releases) before they exit.
      stop_ = true;
      wake_.notify_all();
      stopped = std::move(threads_);
      threads_.clear();
    }
  }
  for (std::thread& thread : stopped) thread.join();
}

void GpuWorkers::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ with nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      if (job.client) ++running_[job.client];
    }
    try {
      job.work();
    } catch (...) {
      // Work reports its own failures; this only keeps a stray exception from ending the process.
    }
    job.work = nullptr;  // release the captures (and what only they kept alive) before announcing the finish
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (job.client) --running_[job.client];
    }
    finished_.notify_all();
  }
}

}  // namespace cuda
}  // namespace resnet
