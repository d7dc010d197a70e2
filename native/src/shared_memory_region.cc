#include "shared_memory_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "fd_guard.h"

namespace resnet {
namespace {

/// A key as messages show it: quoted, and cut short when a hostile client sent a long one.
std::string shown(const std::string& key) {
  std::string text = key.size() <= 64 ? key : key.substr(0, 61) + "...";
  for (char& c : text) {
    if (c == '\0') c = '?';
  }
  return "\"" + text + "\"";
}

Status open_error(const std::string& key, int error) {
  const std::string name = shown(key);
  switch (error) {
    case ENOENT:
      return Status(
          Code::kInvalidArgument,
          cat("no shared memory object ", name,
              ": the client creates it (shm_open with O_CREAT, then ftruncate to its size) before registering it"));
    case EACCES:
    case EPERM:
      return Status(Code::kInvalidArgument,
                    cat("permission denied opening shared memory object ", name,
                        " for reading and writing: create it as the server's user, or give that user read and write "
                        "permission (mode 0660 with a shared group)"));
    case ELOOP:
      return Status(Code::kInvalidArgument,
                    cat("shared memory object ", name,
                        " is a symbolic link, which the server does not follow: register the object itself"));
    case EMFILE:
    case ENFILE:
      return Status(
          Code::kBackend,
          cat("cannot open shared memory object ", name,
              ": too many open files; unregister regions no longer used or raise the open-file limit (ulimit -n)"));
    default:
      return Status(Code::kInvalidArgument, cat("cannot open shared memory object ", name, ": ", std::strerror(error)));
  }
}

}  // namespace

Status validate_shared_memory_key(const std::string& key) {
  if (key.size() > kMaxSharedMemoryKeyBytes) {
    return Status(Code::kInvalidArgument, cat("shared memory key ", shown(key), " is ", key.size(),
                                              " bytes; a POSIX shared-memory name has at most ",
                                              kMaxSharedMemoryKeyBytes, " (leading '/' included)"));
  }
  if (key.find('\0') != std::string::npos) {
    return Status(Code::kInvalidArgument, cat("shared memory key ", shown(key), " contains a NUL byte"));
  }
  if (key.empty() || key[0] != '/') {
    return Status(
        Code::kInvalidArgument,
        cat("shared memory key ", shown(key),
            " must start with '/': it is the POSIX shared-memory name the client gave shm_open (\"/my_region\")"));
  }
  if (key.find('/', 1) != std::string::npos) {
    return Status(Code::kInvalidArgument, cat("shared memory key ", shown(key),
                                              " may contain no '/' after the first: a POSIX shared-memory "
                                              "name has one leading '/' and no other (\"/my_region\")"));
  }
  if (key == "/" || key == "/." || key == "/..") {
    return Status(Code::kInvalidArgument,
                  cat("shared memory key ", shown(key),
                      " names no shared memory object: give a name after the '/' (\"/my_region\")"));
  }
  return Status();
}

Status check_shared_memory_range(const std::string& key, uint64_t offset, uint64_t byte_size, uint64_t object_size) {
  if (byte_size == 0) {
    return Status(Code::kInvalidArgument,
                  cat("byte_size of the region of ", shown(key), " is 0: register at least one byte"));
  }
  // off_t is signed: the end of the range must be a valid file offset too.
  constexpr uint64_t max_end = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  if (offset > max_end || byte_size > max_end - offset) {
    return Status(Code::kInvalidArgument, cat("offset ", offset, " + byte_size ", byte_size, " of the region of ",
                                              shown(key), " overflows a file offset"));
  }
  if (offset + byte_size > object_size) {
    return Status(Code::kInvalidArgument,
                  cat("shared memory object ", shown(key), " has ", object_size, " bytes but the region [", offset,
                      ", ", offset + byte_size,
                      ") ends past it: enlarge the object (ftruncate) or register a smaller region"));
  }
  return Status();
}

Result<std::unique_ptr<SharedMemoryRegion>> SharedMemoryRegion::open(const std::string& key, uint64_t offset,
                                                                     uint64_t byte_size) {
  RESNET_RETURN_IF_ERROR(validate_shared_memory_key(key));
  // No O_CREAT: the client owns the object. O_NOFOLLOW: a symbolic link planted among the shared-memory
  // objects must not make the server map (and write its outputs into) some other file it can open.
  FdGuard fd(::shm_open(key.c_str(), O_RDWR | O_NOFOLLOW, 0));
  if (fd.get() < 0) return open_error(key, errno);

  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    return Status(Code::kInvalidArgument,
                  cat("cannot read the size of shared memory object ", shown(key), ": ", std::strerror(errno)));
  }
  if (!S_ISREG(status.st_mode) || status.st_size < 0) {
    return Status(Code::kInvalidArgument, cat(shown(key), " is not a shared memory object (not a regular file)"));
  }
  RESNET_RETURN_IF_ERROR(check_shared_memory_range(key, offset, byte_size, static_cast<uint64_t>(status.st_size)));

  const long page = ::sysconf(_SC_PAGESIZE);
  const uint64_t page_size = page > 0 ? static_cast<uint64_t>(page) : 4096;
  const uint64_t delta = offset % page_size;
  const uint64_t length = delta + byte_size;  // no overflow: offset + byte_size fits off_t, checked above
  if (length > std::numeric_limits<size_t>::max()) {
    return Status(Code::kInvalidArgument, cat("the region of ", shown(key), " is too large to map in this process"));
  }
  void* mapping = ::mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(),
                         static_cast<off_t>(offset - delta));
  if (mapping == MAP_FAILED) {
    const int error = errno;
    if (error == ENOMEM) {
      return Status(Code::kOutOfMemory, cat("cannot map ", byte_size, " bytes of shared memory object ", shown(key),
                                            ": out of address space or mappings; unregister regions no longer used"));
    }
    return Status(Code::kInvalidArgument,
                  cat("cannot map shared memory object ", shown(key), ": ", std::strerror(error)));
  }
  return std::unique_ptr<SharedMemoryRegion>(
      new SharedMemoryRegion(key, fd.release(), mapping, static_cast<size_t>(length), static_cast<size_t>(delta),
                             offset, static_cast<size_t>(byte_size)));
}

void SharedMemoryRegion::unmap() {
  if (mapping_ != nullptr) {
    ::munmap(mapping_, mapping_length_);
    mapping_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Result<uint64_t> SharedMemoryRegion::object_size() const {
  if (fd_ < 0) return Status(Code::kDisposed, cat("the mapping of shared memory object ", shown(key_), " was closed"));
  struct stat status {};
  if (::fstat(fd_, &status) != 0 || status.st_size < 0) {
    return Status(Code::kInvalidArgument,
                  cat("cannot read the size of shared memory object ", shown(key_), ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(status.st_size);
}

}  // namespace resnet
