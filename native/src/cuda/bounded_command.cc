#include "cuda/bounded_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace resnet {
namespace cuda {
namespace {

using Clock = std::chrono::steady_clock;

int milliseconds_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(0, left));
}

/// Owns the spawn attributes and file actions for one child: stdin from /dev/null, stdout into `write_end`,
/// stderr to /dev/null, a process group of its own (so that a shell wrapper's children die with it), the
/// default SIGPIPE (Node ignores it, and ignored signals survive exec) and no blocked signals.
class SpawnSetup {
 public:
  explicit SpawnSetup(int write_end) {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attributes_);
    ok_ = posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0) == 0 &&
          posix_spawn_file_actions_adddup2(&actions_, write_end, 1) == 0 &&
          posix_spawn_file_actions_addopen(&actions_, 2, "/dev/null", O_WRONLY, 0) == 0;
    sigset_t none;
    sigemptyset(&none);
    sigset_t reset;
    sigemptyset(&reset);
    sigaddset(&reset, SIGPIPE);
    ok_ = ok_ &&
          posix_spawnattr_setflags(&attributes_,
                                   POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) == 0 &&
          posix_spawnattr_setpgroup(&attributes_, 0) == 0 && posix_spawnattr_setsigmask(&attributes_, &none) == 0 &&
          posix_spawnattr_setsigdefault(&attributes_, &reset) == 0;
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attributes_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  bool ok() const { return ok_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attributes() const { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attributes_;
  bool ok_ = false;
};

/// Reads `fd` into result.out until end of file, the deadline or the output bound.
void read_bounded(int fd, Clock::time_point deadline, size_t max_bytes, BoundedOutput& result) {
  char buffer[4096];
  for (;;) {
    const int wait_ms = milliseconds_until(deadline);
    if (wait_ms == 0) {
      result.timed_out = true;
      return;
    }
    pollfd readable{fd, POLLIN, 0};
    const int ready = poll(&readable, 1, wait_ms);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    if (n == 0) return;  // end of file: the child closed stdout (normally by exiting)
    const size_t keep = std::min(static_cast<size_t>(n), max_bytes - result.out.size());
    result.out.append(buffer, keep);
    if (keep < static_cast<size_t>(n)) {
      result.truncated = true;
      return;
    }
  }
}

/// Waits (polling) for `pid` to exit until the deadline; true when it was reaped.
bool reap_until(pid_t pid, Clock::time_point deadline, int& wait_status) {
  for (;;) {
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid) return true;
    if (done < 0 && errno != EINTR) return true;  // not our child any more: nothing left to wait for
    if (milliseconds_until(deadline) == 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

BoundedOutput run_bounded(const std::vector<std::string>& argv, int timeout_ms, size_t max_bytes) {
  BoundedOutput result;
  if (argv.empty()) return result;
  try {
    int pipe_ends[2];
    if (pipe2(pipe_ends, O_CLOEXEC) != 0) return result;
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);

    pid_t pid = -1;
    int spawned = -1;
    {
      SpawnSetup setup(pipe_ends[1]);
      if (setup.ok()) spawned = posix_spawn(&pid, args[0], setup.actions(), setup.attributes(), args.data(), environ);
    }
    close(pipe_ends[1]);
    if (spawned != 0) {
      close(pipe_ends[0]);
      return result;
    }
    result.started = true;

    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
    read_bounded(pipe_ends[0], deadline, max_bytes, result);
    close(pipe_ends[0]);

    int wait_status = 0;
    const bool reaped = !result.timed_out && !result.truncated && reap_until(pid, deadline, wait_status);
    if (!reaped) {
      if (!result.truncated) result.timed_out = true;
      kill(-pid, SIGKILL);  // its process group: a wrapper script's children too
      kill(pid, SIGKILL);
      while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      return result;
    }
    if (WIFEXITED(wait_status)) result.exit_status = WEXITSTATUS(wait_status);
  } catch (...) {
    // Only allocation can throw here; the probe is best effort, so an empty answer is the right one.
  }
  return result;
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path || name.empty() || name.find('/') != std::string::npos) return "";
  std::string folders(path);
  size_t start = 0;
  while (start <= folders.size()) {
    size_t end = folders.find(':', start);
    if (end == std::string::npos) end = folders.size();
    const std::string folder = folders.substr(start, end - start);
    start = end + 1;
    if (folder.empty()) continue;  // an empty entry means the working directory: never trusted here
    const std::string candidate = folder + "/" + name;
    struct stat info;
    if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

}  // namespace cuda
}  // namespace resnet
