#include "cuda/plan_layout.h"

#include <numeric>

namespace resnet {
namespace cuda {
namespace {

// Values that must share one stored channel count: the operands and result of an elementwise op (the
// kernels index them alike), a pool's input and output (one `channels` for both), a fused residual and the
// conv's output (cuDNN's z and y share a descriptor), a flatten and its source (the same memory).
class LayoutClasses {
 public:
  explicit LayoutClasses(size_t count) : parent_(count) { std::iota(parent_.begin(), parent_.end(), 0); }

  int find(int id) {
    while (parent_[id] != id) id = parent_[id] = parent_[parent_[id]];
    return id;
  }
  void unite(int a, int b) { parent_[find(a)] = find(b); }

 private:
  std::vector<int> parent_;
};

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

bool same_geometry(const ValueLayout& a, const ValueLayout& b) {
  return a.h == b.h && a.w == b.w && a.channels == b.channels;
}

void copy_geometry(const ValueLayout& from, ValueLayout* to) {
  to->h = from.h;
  to->w = from.w;
  to->channels = from.channels;
}

std::string geometry_name(const ValueLayout& v) { return cat("[h ", v.h, ", w ", v.w, ", c ", v.channels, "]"); }

// Geometry: a feature map's own; a flat value's (1, 1, F) unless it is computed elementwise from (or is the
// flatten of) a feature map, whose geometry it keeps so that it needs no transposing copy.
Status plan_geometry(const Graph& graph, GraphLayout* layout, LayoutClasses* classes) {
  std::vector<ValueLayout>& values = layout->values;
  for (size_t id = 0; id < graph.values.size(); ++id) {
    const Shape& shape = graph.values[id];
    values[id].channels = shape[0];
    if (shape.size() == 3) {
      values[id].h = shape[1];
      values[id].w = shape[2];
    }
  }
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const Op& op = graph.ops[i];
    ValueLayout& dst = values[op.dst];
    switch (op.kind) {
      case OpKind::kFlatten:
        copy_geometry(values[op.src], &dst);
        dst.alias_of = values[op.src].alias_of >= 0 ? values[op.src].alias_of : op.src;
        classes->unite(op.src, op.dst);
        break;
      case OpKind::kRelu:
        copy_geometry(values[op.src], &dst);  // the same for feature maps (validated shapes)
        classes->unite(op.src, op.dst);
        break;
      case OpKind::kAdd:
        if (!same_geometry(values[op.src], values[op.src2])) {
          return Status(Code::kUnsupported,
                        cat("graph.ops[", i, "] (add) adds value ", op.src, " laid out on the device as ",
                            geometry_name(values[op.src]), " to value ", op.src2, " laid out as ",
                            geometry_name(values[op.src2]),
                            ": the CUDA backend cannot add flat values of different origins; run this graph "
                            "on the CPU backend"));
        }
        copy_geometry(values[op.src], &dst);
        classes->unite(op.src, op.dst);
        classes->unite(op.src2, op.dst);
        break;
      case OpKind::kMaxPool:
      case OpKind::kAdaptiveAvgPool: classes->unite(op.src, op.dst); break;
      case OpKind::kConv:
        if (op.residual >= 0) classes->unite(op.residual, op.dst);
        break;
      case OpKind::kLinear: break;
    }
  }
  return Status();
}

// Grouped convs pad by whole groups or not at all (cuda_plan.h): unpads the classes of the convs that
// cannot, until every grouped conv can (each pass only unpads, so this ends).
void plan_grouped_padding(const Graph& graph, int64_t multiple, GraphLayout* layout, LayoutClasses* classes) {
  std::vector<bool> padded(graph.values.size(), true);  // by class root
  auto stored = [&](int id) {
    const int64_t channels = layout->values[id].channels;
    return padded[classes->find(id)] ? round_up(channels, multiple) : channels;
  };
  layout->conv_groups.assign(graph.ops.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < graph.ops.size(); ++i) {
      const Op& op = graph.ops[i];
      if (op.kind != OpKind::kConv) continue;
      if (op.groups == 1) {
        layout->conv_groups[i] = 1;
        continue;
      }
      const int64_t in_per_group = layout->values[op.src].channels / op.groups;
      const int64_t out_per_group = op.out_channels / op.groups;
      const int64_t c = stored(op.src), k = stored(op.dst);
      if (c % in_per_group == 0 && k % out_per_group == 0 && c / in_per_group == k / out_per_group) {
        layout->conv_groups[i] = c / in_per_group;
        continue;
      }
      padded[classes->find(op.src)] = false;
      padded[classes->find(op.dst)] = false;
      changed = true;
      layout->notes.push_back(
          cat("graph.ops[", i, "] (conv, ", op.groups, " groups of ", in_per_group, " input and ", out_per_group,
              " output channels) cannot pad its channels to a multiple of ", multiple,
              " by whole groups: its input (value ", op.src, ") and output (value ", op.dst,
              "), and the values sharing their layout, keep their channels unpadded, so cuDNN may have fewer "
              "fast algorithms for it"));
    }
  }
  for (size_t id = 0; id < layout->values.size(); ++id)
    layout->values[id].stored_channels = stored(static_cast<int>(id));
}

}  // namespace

Result<GraphLayout> plan_layout(const Graph& graph, int64_t channel_multiple) {
  GraphLayout layout;
  layout.values.resize(graph.values.size());
  LayoutClasses classes(graph.values.size());
  RESNET_RETURN_IF_ERROR(plan_geometry(graph, &layout, &classes));
  plan_grouped_padding(graph, channel_multiple, &layout, &classes);
  return layout;
}

}  // namespace cuda
}  // namespace resnet
