// Runs a helper program (python3, to ask where its nvidia-cudnn package is) without ever hanging the caller:
// a hard time limit, a bound on the output kept, no stdin, stderr discarded, and the whole process group
// killed when either limit is hit. Plain POSIX (posix_spawn, poll), no shell.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace resnet {
namespace cuda {

/// What a bounded run produced.
struct BoundedOutput {
  bool started = false;    // the program could be started at all
  bool timed_out = false;  // killed at the time limit
  bool truncated = false;  // killed for writing more than the output bound
  int exit_status = -1;    // the exit code when it exited normally, else -1
  std::string out;         // what it wrote to stdout (at most max_bytes)
};

/// Runs `argv` (argv[0] a path; no PATH search), waits at most `timeout_ms`, keeps at most `max_bytes` of its
/// stdout. Never throws.
BoundedOutput run_bounded(const std::vector<std::string>& argv, int timeout_ms, size_t max_bytes);

/// The first executable file called `name` in the folders of $PATH, or "" when there is none.
std::string find_on_path(const std::string& name);

}  // namespace cuda
}  // namespace resnet
