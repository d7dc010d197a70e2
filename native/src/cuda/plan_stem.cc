#include "cuda/plan_stem.h"

#include <algorithm>

#include "cuda/kernel_math.h"

namespace resnet {
namespace cuda {
namespace {

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }
int64_t ceil_div(int64_t value, int64_t divisor) { return (value + divisor - 1) / divisor; }

// The op that is the graph's stem, or why there is none: the graph input's only reader, a conv (not a linear
// layer) with one group reading it as its source, over few channels, and the input not itself an output.
int stem_op(const Graph& graph, std::string* why) {
  int reader = -1, readers = 0;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const std::vector<int> inputs = graph.ops[i].inputs();
    if (std::find(inputs.begin(), inputs.end(), graph.input) == inputs.end()) continue;
    reader = static_cast<int>(i);
    ++readers;
  }
  const Shape& input = graph.values[static_cast<size_t>(graph.input)];
  if (input.size() != 3) {
    *why = "the graph input is not a feature map";
  } else if (input[0] > kStemMaxChannels) {
    *why = cat("the graph input has ", input[0], " channels, more than ", kStemMaxChannels);
  } else if (std::find(graph.outputs.begin(), graph.outputs.end(), graph.input) != graph.outputs.end()) {
    *why = "the graph input is also a graph output";
  } else if (readers != 1) {
    *why = cat("the graph input is read by ", readers, " ops, not by one conv alone");
  } else {
    const Op& op = graph.ops[static_cast<size_t>(reader)];
    if (op.kind != OpKind::kConv || op.src != graph.input || op.residual == graph.input) {
      *why = cat("the graph input is read by graph.ops[", reader, "], which is not a conv reading it as its source");
    } else if (op.groups != 1) {
      *why = cat("the conv reading the graph input (graph.ops[", reader, "]) has ", op.groups, " groups");
    } else {
      return reader;
    }
  }
  return -1;
}

// Why space-to-depth does not apply to `op`, or "" when it does (block = the stride). Strides up to 4 and
// kernels up to 16 cover every stem there is and keep the cells' channels (C·s² ≤ 64) and the value small.
std::string space_to_depth_refusal(const Op& op) {
  if (op.stride.h != op.stride.w || op.stride.h < 2 || op.stride.h > 4) {
    return cat("its stride is ", op.stride.h, "x", op.stride.w, " (space-to-depth takes equal strides of 2 to 4)");
  }
  if (op.dilation.h != 1 || op.dilation.w != 1) return cat("its dilation is ", op.dilation.h, "x", op.dilation.w);
  if (op.kernel.h < op.stride.h || op.kernel.w < op.stride.w || op.kernel.h > 16 || op.kernel.w > 16) {
    return cat("its kernel ", op.kernel.h, "x", op.kernel.w, " is outside [stride, 16]");
  }
  return "";
}

}  // namespace

const StemOption* StemPlan::find(StemForm form) const {
  for (const StemOption& option : forms) {
    if (option.form == form) return &option;
  }
  return nullptr;
}

StemPlan plan_stem(const Graph& graph, const CudaPlan& plan) {
  StemPlan stem;
  std::string why;
  const int op_index = stem_op(graph, &why);
  if (op_index < 0) {
    stem.unavailable.push_back(cat("no stem forms: ", why));
    return stem;
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (plan.steps[i].kind == StepKind::kConv && plan.steps[i].op_index == op_index) stem.step = static_cast<int>(i);
  }
  const Step& step = plan.steps[static_cast<size_t>(stem.step)];
  const Op& op = graph.ops[static_cast<size_t>(op_index)];
  const DeviceValue& input = plan.values[static_cast<size_t>(graph.input)];
  const DeviceValue& output = plan.values[static_cast<size_t>(step.dst)];
  const size_t element = storage_bytes(plan.storage);
  auto value_bytes = [&](int64_t h, int64_t w, int64_t stored) {
    return static_cast<size_t>(plan.batch * h * w * stored) * element;
  };

  StemOption direct;
  direct.form = StemForm::kDirect;
  direct.h = input.h;
  direct.w = input.w;
  direct.channels = input.channels;
  direct.stored_channels = input.stored_channels;
  direct.bytes = input.bytes;
  direct.kernel = step.kernel;
  direct.stride = step.stride;
  direct.padding = step.padding;
  stem.forms.push_back(direct);

  const std::string refusal = space_to_depth_refusal(op);
  if (refusal.empty()) {
    StemOption s2d;
    s2d.form = StemForm::kSpaceToDepth;
    s2d.block = op.stride.h;
    s2d.input_padding = op.padding;
    s2d.kernel = Pair{ceil_div(op.kernel.h, s2d.block), ceil_div(op.kernel.w, s2d.block)};
    s2d.h = output.h + s2d.kernel.h - 1;
    s2d.w = output.w + s2d.kernel.w - 1;
    s2d.channels = input.channels * s2d.block * s2d.block;
    s2d.stored_channels = round_up(s2d.channels, channel_multiple(plan.storage));
    s2d.bytes = value_bytes(s2d.h, s2d.w, s2d.stored_channels);
    stem.forms.push_back(s2d);
  } else {
    stem.unavailable.push_back(cat("space_to_depth: the stem (graph.ops[", op_index, "]) does not qualify: ", refusal));
  }

  if (input.stored_channels > 4) {
    StemOption four = direct;
    four.form = StemForm::kFourChannel;
    four.stored_channels = 4;
    four.bytes = value_bytes(four.h, four.w, 4);
    stem.forms.push_back(four);
  } else {
    stem.unavailable.push_back(cat("four_channel: direct already stores the input as ", input.stored_channels,
                                   " channels in ", storage_name(plan.storage)));
  }
  for (const StemOption& option : stem.forms) stem.input_arena_bytes = std::max(stem.input_arena_bytes, option.bytes);
  return stem;
}

void pack_stem_filter(const Op& op, const StemOption& option, int64_t in_channels, StorageType storage,
                      uint8_t* filter) {
  const int64_t block = option.block;
  const int64_t stored = option.stored_channels;
  for (int64_t o = 0; o < op.out_channels; ++o) {
    for (int64_t a = 0; a < option.kernel.h; ++a) {
      for (int64_t b = 0; b < option.kernel.w; ++b) {
        // Tap (a, b) of the form's kernel covers the cell of original taps (block·a + dy, block·b + dx).
        for (int64_t dy = 0; dy < block; ++dy) {
          const int64_t y = block * a + dy;
          if (y >= op.kernel.h) continue;
          for (int64_t dx = 0; dx < block; ++dx) {
            const int64_t x = block * b + dx;
            if (x >= op.kernel.w) continue;
            for (int64_t c = 0; c < in_channels; ++c) {
              const float w =
                  op.weight[static_cast<size_t>(((o * in_channels + c) * op.kernel.h + y) * op.kernel.w + x)];
              const int64_t channel = (dy * block + dx) * in_channels + c;
              store(filter, storage, ((o * option.kernel.h + a) * option.kernel.w + b) * stored + channel, w);
            }
          }
        }
      }
    }
  }
}

Result<CudaPlan> with_stem_form(const CudaPlan& plan, StemForm form) {
  const StemOption* option = plan.stem.find(form);
  if (option == nullptr) {
    std::string offered;
    for (const StemOption& each : plan.stem.forms)
      offered += cat(offered.empty() ? "" : ", ", stem_form_name(each.form));
    std::string reasons;
    for (const std::string& line : plan.stem.unavailable) reasons += cat("; ", line);
    return Status(Code::kInvalidArgument,
                  cat("The stem form '", stem_form_name(form), "' is not available for this graph (offered: ",
                      offered.empty() ? std::string("none") : offered, reasons, "): choose one of those, or 'auto'"));
  }
  CudaPlan result = plan;
  for (Step& step : result.steps) {
    if (step.kind != StepKind::kInput) continue;
    DeviceValue& input = result.values[static_cast<size_t>(step.dst)];
    input.h = option->h;
    input.w = option->w;
    input.channels = option->channels;
    input.stored_channels = option->stored_channels;
    input.bytes = option->bytes;
    step.block = option->block;
    step.padding = option->input_padding;
  }
  Step& conv = result.steps[static_cast<size_t>(plan.stem.step)];
  conv.kernel = option->kernel;
  conv.stride = option->stride;
  conv.padding = option->padding;
  conv.filter_offset = option->filter_offset;
  conv.filter_bytes = option->filter_bytes;
  result.stem.chosen = form;
  return result;
}

}  // namespace cuda
}  // namespace resnet
