// describe(): the plan as text, one line per value, step and note.
#include <sstream>

#include "cuda/cuda_plan.h"

namespace resnet {
namespace cuda {
namespace {

std::string pair_text(const Pair& p) { return cat(p.h, "x", p.w); }

std::string value_text(const CudaPlan& plan, size_t id) {
  const DeviceValue& v = plan.values[id];
  std::string line = cat("value ", id, ": NHWC [", v.n, ", ", v.h, ", ", v.w, ", ", v.channels);
  if (v.stored_channels != v.channels) line += cat(" stored as ", v.stored_channels);
  line += cat("] ", storage_name(v.storage), ", ", v.bytes, " bytes");
  if (v.storage == StorageType::kFloat8E4M3) line += cat(" (scale ", v.fp8_scale, ")");
  if (v.alias_of >= 0) {
    line += cat(", alias of value ", v.alias_of);
  } else {
    line += cat(" at arena +", v.arena_offset);
  }
  if (v.output_index >= 0) line += cat(", output ", v.output_index);
  return line;
}

std::string step_text(const Step& s) {
  std::string line = cat(step_kind_name(s.kind), ": ");
  switch (s.kind) {
    case StepKind::kInput:
      line += cat("host input -> value ", s.dst);
      if (s.block > 1 || s.padding.h != 0 || s.padding.w != 0) {
        line += cat(", space-to-depth ", s.block, "x", s.block, " after padding ", pair_text(s.padding));
      }
      return line;
    case StepKind::kOutput: return line + cat("value ", s.src, " -> host output ", s.output_index);
    case StepKind::kAdd: line += cat("value ", s.src, " + value ", s.src2, " -> value ", s.dst); break;
    case StepKind::kConv:
      line += cat("value ", s.src, " -> value ", s.dst, ", kernel ", pair_text(s.kernel), " stride ",
                  pair_text(s.stride), " padding ", pair_text(s.padding), " dilation ", pair_text(s.dilation),
                  " groups ", s.groups);
      if (s.residual >= 0) line += cat(", + residual value ", s.residual);
      line += cat(", filter @", s.filter_offset, " (", s.filter_bytes, " bytes), bias @", s.bias_offset, " (",
                  s.bias_bytes, " bytes)");
      if (s.fp8) {
        line += cat(", fp8: scale @", s.scale_offset, " (", s.scale_bytes, " bytes), residual divisor ", s.fp8_divisor,
                    ", output scale ", s.output_scale);
      }
      break;
    case StepKind::kConvert: line += cat("value ", s.src, " -> value ", s.dst, ", scale ", s.scale); break;
    case StepKind::kMaxPool:
      line += cat("value ", s.src, " -> value ", s.dst, ", kernel ", pair_text(s.kernel), " stride ",
                  pair_text(s.stride), " padding ", pair_text(s.padding), " dilation ", pair_text(s.dilation),
                  s.ceil_mode ? " ceil" : "");
      break;
    case StepKind::kAdaptiveAvgPool:
    case StepKind::kRelu: line += cat("value ", s.src, " -> value ", s.dst); break;
  }
  if (s.relu && s.kind != StepKind::kRelu) line += ", relu";
  return line + cat(" (graph.ops[", s.op_index, "])");
}

std::string stem_option_text(const StemOption& o) {
  return cat(stem_form_name(o.form), " (input ", o.h, "x", o.w, "x", o.channels, " stored as ", o.stored_channels, ", ",
             o.bytes, " bytes; kernel ", pair_text(o.kernel), " stride ", pair_text(o.stride), " padding ",
             pair_text(o.padding), "; filter @", o.filter_offset, ", ", o.filter_bytes, " bytes)");
}

}  // namespace

std::string describe(const CudaPlan& plan) {
  std::ostringstream out;
  out << "CUDA plan: batch " << plan.batch << ", " << precision_name(plan.precision) << " (storage "
      << storage_name(plan.storage) << "), arena " << plan.arena_bytes << " bytes, weights " << plan.weight_blob_bytes
      << " bytes\n";
  for (size_t id = 0; id < plan.values.size(); ++id) out << value_text(plan, id) << "\n";
  for (size_t i = 0; i < plan.steps.size(); ++i) out << "step " << i << " " << step_text(plan.steps[i]) << "\n";
  if (plan.stem.step >= 0) {
    out << "stem: step " << plan.stem.step << " as " << stem_form_name(plan.stem.chosen) << ", the input's arena room "
        << plan.stem.input_arena_bytes << " bytes\n";
    for (const StemOption& option : plan.stem.forms) out << "stem form: " << stem_option_text(option) << "\n";
  }
  for (const std::string& line : plan.stem.unavailable) out << "stem: " << line << "\n";
  for (const std::string& note : plan.notes) out << "note: " << note << "\n";
  return out.str();
}

}  // namespace cuda
}  // namespace resnet
