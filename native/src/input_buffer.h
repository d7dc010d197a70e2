// Host memory for one run's input, lent by the executable from a small pool: the JS thread copies the
// caller's array into it (so the caller may reuse its array at once), the run reads it, and the buffer goes
// back to the pool when the run is done. Reusing buffers matters at large batches: a fresh 150 MB
// allocation per run costs its page faults every time. The CUDA backend's pool holds pinned memory, which
// the GPU reads by DMA with no further host copy.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace resnet {

/// One run's input buffer; returns its memory to the pool it came from when destroyed.
class InputBuffer {
 public:
  virtual ~InputBuffer() = default;
  virtual void* data() const = 0;
  virtual size_t bytes() const = 0;
};

/// A pool of equal-sized blocks of `Block` (a move-only RAII type with get() and bytes()), at most
/// `keep` of them idle. Thread-safe. Blocks outlive the pool safely: a block returned after the pool is
/// gone is destroyed by `dispose`.
template <typename Block>
class InputBufferPool : public std::enable_shared_from_this<InputBufferPool<Block>> {
 public:
  using Dispose = std::function<void(Block)>;

  InputBufferPool(size_t keep, Dispose dispose) : keep_(keep), dispose_(std::move(dispose)) {}

  /// A pooled block of at least `bytes` wrapped as an InputBuffer, or nullptr when `make(bytes)` (called
  /// when no idle block is large enough) gives none.
  template <typename Make>
  std::unique_ptr<InputBuffer> acquire(size_t bytes, Make make) {
    Block block;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = idle_.size(); i-- > 0;) {
        if (idle_[i].bytes() < bytes) continue;
        block = std::move(idle_[i]);
        idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    if (!block.get()) block = make(bytes);
    if (!block.get()) return nullptr;
    return std::make_unique<Lent>(std::move(block), this->weak_from_this(), dispose_);
  }

 private:
  class Lent final : public InputBuffer {
   public:
    Lent(Block block, std::weak_ptr<InputBufferPool> pool, Dispose dispose)
        : block_(std::move(block)), pool_(std::move(pool)), dispose_(std::move(dispose)) {}
    ~Lent() override {
      if (std::shared_ptr<InputBufferPool> pool = pool_.lock()) {
        if (pool->give_back(block_)) return;
      }
      dispose_(std::move(block_));
    }
    void* data() const override { return block_.get(); }
    size_t bytes() const override { return block_.bytes(); }

   private:
    Block block_;
    std::weak_ptr<InputBufferPool> pool_;
    Dispose dispose_;
  };

  bool give_back(Block& block) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() >= keep_) return false;
    idle_.push_back(std::move(block));
    return true;
  }

  const size_t keep_;
  const Dispose dispose_;
  std::mutex mutex_;
  std::vector<Block> idle_;
};

/// Plain heap memory (the CPU backend's blocks), aligned for vector loads.
class HeapBlock {
 public:
  HeapBlock() = default;
  explicit HeapBlock(size_t bytes);
  HeapBlock(HeapBlock&& other) noexcept : pointer_(std::exchange(other.pointer_, nullptr)), bytes_(other.bytes_) {}
  HeapBlock& operator=(HeapBlock&& other) noexcept {
    HeapBlock(std::move(other)).swap(*this);
    return *this;
  }
  HeapBlock(const HeapBlock&) = delete;
  HeapBlock& operator=(const HeapBlock&) = delete;
  ~HeapBlock();
  void* get() const { return pointer_; }
  size_t bytes() const { return bytes_; }

 private:
  void swap(HeapBlock& other) noexcept {
    std::swap(pointer_, other.pointer_);
    std::swap(bytes_, other.bytes_);
  }
  void* pointer_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace resnet
