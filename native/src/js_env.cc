#include "js_env.h"

#include <algorithm>

#include "js_error.h"

namespace resnet {

namespace {

/// The status for an exception that escaped a job's execute(); never throws itself.
Status status_from_current_exception() noexcept {
  try {
    try {
      throw;
    } catch (const std::bad_alloc&) {
      return Status(Code::kOutOfMemory, "out of memory; use a smaller batch or input, or free memory");
    } catch (const std::exception& error) {
      return Status(Code::kBackend, error.what());
    } catch (...) {
      return Status(Code::kBackend, "unknown native failure");
    }
  } catch (...) {
    return Status(Code::kOutOfMemory, std::string());  // building the message itself failed
  }
}

}  // namespace

EnvState::EnvState(Napi::Env env) : env_(env) {
  channel_ = Channel::New(env, "resnet-cudnn", 0, 1, this);
  // Unref'd while idle, so a process with compiled executables and nothing running can exit.
  channel_.Unref(env);
  // Cleanup hooks run last-added first: added after the channel, this runs while the channel still exists,
  // so no job of this environment can post to a channel Node has already torn down.
  env.AddCleanupHook([this] { cleanup(); });
}

Napi::Promise EnvState::start(Backend* backend, JobShape shape, std::shared_ptr<AsyncJob> job) {
  if (std::find(attached_.begin(), attached_.end(), backend) == attached_.end()) {
    backend->attach(this);
    attached_.push_back(backend);
  }
  Napi::Promise promise = job->promise();
  // Allocated here, on the JS thread, so that reporting back never allocates on the compute thread. A job
  // dropped unrun (its environment shutting down) leaks this one small box, which is gone with the process.
  auto* completion = new Completion(std::move(job));
  try {
    backend->submit(this, shape, [this, completion]() {
      AsyncJob& work = **completion;
      try {
        work.execute();
      } catch (...) {
        work.escaped_ = status_from_current_exception();
      }
      post(completion);
    });
  } catch (...) {
    delete completion;
    throw;
  }
  // Counted once queued (a failed submit throws and leaves nothing pending); the job settles on this
  // thread, so it cannot finish before the count is taken.
  if (pending_++ == 0) channel_.Ref(env_);
  return promise;
}

void EnvState::post(Completion* completion) {
  // Fails only while the environment shuts down; the promise then goes with it.
  if (channel_.NonBlockingCall(completion) != napi_ok) delete completion;
}

void EnvState::deliver(Napi::Env env, Napi::Function, EnvState* state, Completion* completion) {
  std::unique_ptr<Completion> owned(completion);
  if (env == nullptr) return;  // the channel is being torn down: drop the job
  AsyncJob& job = **owned;
  try {
    if (!job.escaped_.ok()) {
      job.deferred_.Reject(make_error(env, job.escaped_).Value());
    } else {
      job.settle(env, job.deferred_);
    }
  } catch (const Napi::Error& error) {
    job.deferred_.Reject(error.Value());
  } catch (const std::bad_alloc&) {
    job.deferred_.Reject(make_error(env, Status(Code::kOutOfMemory, "out of memory while returning results")).Value());
  } catch (const std::exception& error) {
    job.deferred_.Reject(make_error(env, Status(Code::kBackend, error.what())).Value());
  }
  if (--state->pending_ == 0) state->channel_.Unref(env);
}

void EnvState::cleanup() {
  // Drops this environment's queued jobs and waits for its running ones: after this no job posts here.
  for (Backend* backend : attached_) backend->detach(this);
  attached_.clear();
  channel_.Release();
}

}  // namespace resnet
