// FdGuard: closes a POSIX file descriptor unless released, so that a function that opens one and then fails
// part way (shm_open then mmap, socket then bind) never leaks it. Hand the descriptor on with release() once
// everything has succeeded.
#pragma once

#include <unistd.h>

#include <utility>

namespace resnet {

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace resnet
