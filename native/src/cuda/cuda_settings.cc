#include "cuda/cuda_settings.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace resnet {
namespace cuda {

CudaSettings cuda_settings_from(const std::function<const char*(const char*)>& lookup) {
  CudaSettings settings;
  const char* verbose = lookup("RESNET_CUDNN_VERBOSE");
  settings.verbose = verbose != nullptr && *verbose != '\0' && std::strcmp(verbose, "0") != 0;
  const char* graph = lookup("RESNET_CUDNN_GRAPH");
  if (graph != nullptr && std::strcmp(graph, "0") == 0) {
    settings.graph_api = false;
    settings.graph_api_off_by = "RESNET_CUDNN_GRAPH=0";
  }
  const char* candidates = lookup("RESNET_CUDNN_GRAPH_CANDIDATES");
  if (candidates != nullptr && *candidates != '\0') {
    const long parsed = std::strtol(candidates, nullptr, 10);
    if (parsed >= 1 && parsed <= 16) settings.graph_candidates = static_cast<int>(parsed);
  }
  const char* budget = lookup("RESNET_CUDNN_GRAPH_BUDGET_MS");
  if (budget != nullptr && *budget != '\0') {
    char* end = nullptr;
    const double parsed = std::strtod(budget, &end);
    if (end != budget && parsed >= 0) settings.graph_budget_ms = parsed;
  }
  return settings;
}

const CudaSettings& cuda_settings_from_environment() {
  static const CudaSettings settings = cuda_settings_from([](const char* name) { return std::getenv(name); });
  return settings;
}

size_t graph_plan_limit(const CudaSettings& settings, bool benchmark) {
  if (settings.graph_candidates >= 1 && settings.graph_candidates <= 16) {
    return static_cast<size_t>(settings.graph_candidates);
  }
  return benchmark ? 3 : 1;
}

double graph_build_budget_ms(const CudaSettings& settings) {
  return settings.graph_budget_ms == 0 ? HUGE_VAL : settings.graph_budget_ms;
}

}  // namespace cuda
}  // namespace resnet
