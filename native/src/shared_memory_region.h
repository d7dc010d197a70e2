// A client's POSIX shared-memory object mapped into this process, for Triton's system shared-memory
// extension: the client creates the object (shm_open + ftruncate) and registers a byte range of it; the
// server maps that range once and reads inputs from it and writes outputs into it in place.
//
// The object is opened read-write and never created (no O_CREAT): a key that names nothing is the client's
// mistake, reported as such. The descriptor stays open so that the object's size can be checked again
// before each use: a client that shrinks its object (ftruncate) after registering would otherwise turn
// the next access beyond the new end into SIGBUS. Plain C++ (POSIX), no Node-API: the JS handle is in
// js_shared_memory.*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "status.h"

namespace resnet {

/// Longest key accepted, in bytes, leading '/' included (NAME_MAX on Linux).
constexpr size_t kMaxSharedMemoryKeyBytes = 255;

/// Ok when `key` is a POSIX shared-memory name this server opens: '/' then 1 to 254 bytes with no '/' and
/// no NUL, and not "." or "..". Else kInvalidArgument saying which rule it breaks.
Status validate_shared_memory_key(const std::string& key);

/// Ok when [offset, offset + byte_size) is a non-empty range that fits an object of `object_size` bytes
/// (overflow-checked). Else kInvalidArgument saying what to change.
Status check_shared_memory_range(const std::string& key, uint64_t offset, uint64_t byte_size, uint64_t object_size);

/// `[offset, offset + byte_size)` of a shared-memory object, mapped MAP_SHARED read-write. The mapping
/// starts at the page that holds `offset` (mmap's offset must be page-aligned); `data()` is `delta()`
/// bytes into it. Unmapped and closed by `unmap()` or the destructor. Not thread-safe: the JS thread
/// owns it.
class SharedMemoryRegion {
 public:
  /// Opens `key` (validated first), checks the range against the object's size, and maps it.
  static Result<std::unique_ptr<SharedMemoryRegion>> open(const std::string& key, uint64_t offset, uint64_t byte_size);

  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;
  ~SharedMemoryRegion() { unmap(); }

  /// Unmaps and closes; idempotent. Whoever lent the memory out must have taken it back first.
  void unmap();
  bool mapped() const { return mapping_ != nullptr; }

  /// The page-aligned start of the mapping and its length (`delta() + byte_size()`); null once unmapped.
  uint8_t* mapping() const { return static_cast<uint8_t*>(mapping_); }
  size_t mapping_length() const { return mapping_length_; }
  /// Bytes from the mapping's start to the registered offset (offset modulo the page size).
  size_t delta() const { return delta_; }
  size_t byte_size() const { return byte_size_; }
  uint64_t offset() const { return offset_; }
  const std::string& key() const { return key_; }

  /// The object's size now (fstat); kDisposed once unmapped.
  Result<uint64_t> object_size() const;

 private:
  SharedMemoryRegion(std::string key, int fd, void* mapping, size_t mapping_length, size_t delta, uint64_t offset,
                     size_t byte_size)
      : key_(std::move(key)), fd_(fd), mapping_(mapping), mapping_length_(mapping_length), delta_(delta),
        offset_(offset), byte_size_(byte_size) {}

  std::string key_;
  int fd_;
  void* mapping_;
  size_t mapping_length_;
  size_t delta_;
  uint64_t offset_;
  size_t byte_size_;
};

}  // namespace resnet
