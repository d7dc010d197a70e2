// `testing.cudnnGraph.run(graph, { batch, precision, limit?, workspaceCap? })`: for every conv step of the
// graph's CUDA plan, the graph API's plans as build_conv_graph_plans makes them through the cuDNN that
// load_cudnn() finds, and one execution of the first plan with made-up addresses. No GPU is touched: the
// handle and every buffer address are stand-ins, so this is for test/gpu/cudnn-graph-api.test.ts, which loads a
// fake cuDNN (test/fixtures/fake-cudnn-backend.cc) that checks the calls and logs what it was asked to run.
// Synchronous; failures are thrown coded Errors.
#include <napi.h>

#include <cstdint>
#include <new>

#include "cuda/conv_graph.h"
#include "cuda/conv_graph_plan.h"
#include "cuda/cudnn_loader.h"
#include "cuda/js_cuda_testing.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// The stand-in handle and the base of the stand-in addresses (never dereferenced by this code).
constexpr uintptr_t kFakeHandle = 0x600d;
constexpr uintptr_t kAddressBase = 0x10000000;

// A distinct address per (step, role): step · 0x10000 + role · 0x100 above the base.
uintptr_t address(int step, GraphTensorRole role) {
  return kAddressBase + static_cast<uintptr_t>(step) * 0x10000 + static_cast<uintptr_t>(role) * 0x100;
}

size_t size_option(Napi::Env env, const Napi::Value& options, const char* name, size_t fallback) {
  if (!options.IsObject()) return fallback;
  const Napi::Value value = options.As<Napi::Object>().Get(name);
  if (value.IsUndefined()) return fallback;
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 1 && number <= 9007199254740991.0) || static_cast<double>(static_cast<int64_t>(number)) != number) {
    throw make_error(env, Status(Code::kInvalidArgument, cat("Expected a positive integer for options.", name,
                                                             " but received ", describe_js_value(value))));
  }
  return static_cast<size_t>(number);
}

Napi::Value run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Graph graph;
    const CudaPlan plan = plan_from_js(env, info, &graph);
    const size_t limit = size_option(env, info[1], "limit", 1);
    const size_t workspace_cap = size_option(env, info[1], "workspaceCap", size_t{256} << 20);
    Result<const CudnnLibrary*> loaded = load_cudnn();
    if (!loaded.ok()) throw make_error(env, loaded.status());
    const CudnnApi& api = loaded.value()->api;
    auto handle = reinterpret_cast<cudnn::cudnnHandle_t>(kFakeHandle);

    Napi::Array steps = Napi::Array::New(env);
    uint32_t count = 0;
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      if (plan.steps[i].kind != StepKind::kConv) continue;
      const int step = static_cast<int>(i);
      Result<ConvGraphDescription> described = describe_conv_graph(plan, step);
      if (!described.ok()) throw make_error(env, described.status());
      const ConvGraphPlans plans =
          build_conv_graph_plans(api, handle, described.value(), plan.precision, limit, workspace_cap);
      Napi::Object result = Napi::Object::New(env);
      result.Set("step", step);
      result.Set("note", plans.note);
      Napi::Array list = Napi::Array::New(env, plans.plans.size());
      for (uint32_t p = 0; p < plans.plans.size(); ++p) {
        Napi::Object entry = Napi::Object::New(env);
        entry.Set("engine", static_cast<double>(plans.plans[p].engine));
        entry.Set("runtimeCompiled", plans.plans[p].runtime_compiled);
        entry.Set("workspace", static_cast<double>(plans.plans[p].workspace));
        entry.Set("name", plans.plans[p].name());
        list.Set(p, entry);
      }
      result.Set("plans", list);
      if (!plans.plans.empty()) {
        ConvGraphBindings bindings;
        bindings.input = reinterpret_cast<const void*>(address(step, GraphTensorRole::kInput));
        bindings.filter = reinterpret_cast<const void*>(address(step, GraphTensorRole::kFilter));
        bindings.bias = reinterpret_cast<const void*>(address(step, GraphTensorRole::kBias));
        bindings.residual = plan.steps[i].residual >= 0
                                ? reinterpret_cast<const void*>(address(step, GraphTensorRole::kResidual))
                                : nullptr;
        bindings.output = reinterpret_cast<void*>(address(step, GraphTensorRole::kOutput));
        bindings.workspace = reinterpret_cast<void*>(address(step, GraphTensorRole::kVirtual));
        bindings.scale = reinterpret_cast<const void*>(address(step, GraphTensorRole::kScale));
        bindings.output_scale = reinterpret_cast<const void*>(address(step, GraphTensorRole::kOutputScale));
        const cudnn::cudnnStatus_t status =
            execute_conv_graph(api, handle, plans.plans.front(), described.value(), bindings);
        result.Set("executeStatus", cudnn_status_name(status));
        Napi::Object addresses = Napi::Object::New(env);
        const ConvGraphDescription& d = described.value();
        const auto has = [&](GraphTensorRole role) {
          for (const GraphTensor& t : d.tensors) {
            if (t.role == role) return true;
          }
          return false;
        };
        for (GraphTensorRole role :
             {GraphTensorRole::kInput, GraphTensorRole::kFilter, GraphTensorRole::kBias, GraphTensorRole::kResidual,
              GraphTensorRole::kOutput, GraphTensorRole::kScale, GraphTensorRole::kOutputScale}) {
          if (!has(role)) continue;
          addresses.Set(graph_tensor_role_name(role), static_cast<double>(address(step, role)));
        }
        addresses.Set("workspace", static_cast<double>(address(step, GraphTensorRole::kVirtual)));
        result.Set("addresses", addresses);
      }
      steps.Set(count++, result);
    }
    return steps;
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "testing.cudnnGraph.run: out of memory"));
  }
}

}  // namespace

void add_graph_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object graph = Napi::Object::New(env);
  graph.Set("run", Napi::Function::New(env, run, "run"));
  testing.Set("cudnnGraph", graph);
}

}  // namespace cuda
}  // namespace resnet
