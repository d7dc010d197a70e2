#include "input_buffer.h"

#include <cstdlib>

namespace resnet {

HeapBlock::HeapBlock(size_t bytes) {
  constexpr size_t kAlignment = 64;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  pointer_ = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  bytes_ = pointer_ ? bytes : 0;
}

HeapBlock::~HeapBlock() { std::free(pointer_); }

}  // namespace resnet
