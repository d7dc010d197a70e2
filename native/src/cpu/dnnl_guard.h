// Runs oneDNN-calling code and turns whatever it throws into a Status: the backend never lets a
// dnnl::error or std::bad_alloc escape towards Node-API.
#pragma once

#include <dnnl.hpp>

#include <new>
#include <string>

#include "status.h"

namespace resnet {

template <typename Fn>
Status dnnl_guard(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_out_of_memory) {
      return Status(Code::kOutOfMemory,
                    cat(what, ": oneDNN ran out of memory (", e.what(), "); use a smaller batch or free memory"));
    }
    return Status(Code::kBackend, cat(what, ": oneDNN failed: ", e.what()));
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, cat(what, ": out of memory; use a smaller batch or free memory"));
  } catch (const std::exception& e) {
    return Status(Code::kBackend, cat(what, ": ", e.what()));
  } catch (...) {
    return Status(Code::kBackend, cat(what, ": unknown native failure"));
  }
}

}  // namespace resnet
