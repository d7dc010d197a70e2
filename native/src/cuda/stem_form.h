// The forms the stem (a graph's first conv, reading the graph input alone, over few channels) can take on the
// device: the planner lays them out (plan_stem.h), the executable times them (stem_choice.h), a compile's
// `cudnn.stem` option may force one (cuda_settings.h). Plain C++ with no other dependency, so that the plan and
// the settings can both name them.
#pragma once

#include <string>

namespace resnet {
namespace cuda {

/// Each computes the same conv: the input conversion writes the form's layout and the conv reads it with a
/// filter rearranged to match.
enum class StemForm {
  kDirect,        // the input padded to the stored channel count every value gets (4 floats, 8 halves)
  kSpaceToDepth,  // a stride-s conv as a stride-1 conv over the s×s space-to-depth of the zero-padded input
  kFourChannel,   // the input padded to 4 channels only (16-bit storage): cuDNN's first-layer kernels
};

/// Every form, in the order plans list them.
constexpr StemForm kStemForms[] = {StemForm::kDirect, StemForm::kSpaceToDepth, StemForm::kFourChannel};

/// "direct", "space_to_depth", "four_channel".
inline const char* stem_form_name(StemForm form) {
  switch (form) {
    case StemForm::kDirect: return "direct";
    case StemForm::kSpaceToDepth: return "space_to_depth";
    case StemForm::kFourChannel: return "four_channel";
  }
  return "unknown";
}

/// The form named `name` (stem_form_name's spelling) into `*form`; false for any other name.
inline bool stem_form_from_name(const std::string& name, StemForm* form) {
  for (StemForm each : kStemForms) {
    if (name == stem_form_name(each)) {
      *form = each;
      return true;
    }
  }
  return false;
}

}  // namespace cuda
}  // namespace resnet
