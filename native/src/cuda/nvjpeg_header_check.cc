// Compile-time proof that nvjpeg_api.h matches the real nvjpeg.h: every enum value, each struct's size,
// alignment, field offsets and field types, the constants, and the type of every function. Built only where
// nvjpeg.h is found (nvjpeg_header_check.cmake); produces no code. Each item comes from the X-macro lists
// nvjpeg_api.h is made of, so nothing declared there escapes the check, and a mismatch names the item in the
// static_assert's message. Ours live in namespace resnet::nvjpeg, nvJPEG's at global scope. The same pattern as
// cudnn_header_check.cc.
#include <nvjpeg.h>

#include <cstddef>
#include <type_traits>

#include "cuda/header_check_real.h"
#include "cuda/nvjpeg_api.h"

#if !defined(NVJPEG_VER_MAJOR) || NVJPEG_VER_MAJOR < 12 || NVJPEG_VER_MAJOR > 13
#error "nvjpeg_header_check: this nvjpeg.h is not nvJPEG 12.x or 13.x (NVJPEG_VER_MAJOR); resnet-cudnn declares those"
#endif

namespace resnet {
namespace header_check {

// Real<T>, from header_check_real.h, specialised for our enums and structs.
#define RESNET_REAL_TYPE(type_name, list) \
  template <>                             \
  struct Real<nvjpeg::type_name> {        \
    using type = ::type_name;             \
  };
RESNET_NVJPEG_ENUMS(RESNET_REAL_TYPE)
RESNET_NVJPEG_STRUCTS(RESNET_REAL_TYPE)
#undef RESNET_REAL_TYPE

static_assert(nvjpeg::kMaxComponent == NVJPEG_MAX_COMPONENT, "nvjpeg_api.h: kMaxComponent is not NVJPEG_MAX_COMPONENT");
static_assert(nvjpeg::kFlagsDefault == NVJPEG_FLAGS_DEFAULT, "nvjpeg_api.h: kFlagsDefault is not NVJPEG_FLAGS_DEFAULT");

// ---- enums: each type's size and underlying type, each value, and that it belongs to the same enum ----------
#define RESNET_CHECK_ENUM_TYPE(type_name, values)                                                                  \
  static_assert(sizeof(nvjpeg::type_name) == sizeof(::type_name),                                                  \
                "nvjpeg_api.h: " #type_name " has another size than in nvjpeg.h");                                 \
  static_assert(                                                                                                   \
      std::is_same<std::underlying_type<nvjpeg::type_name>::type, std::underlying_type<::type_name>::type>::value, \
      "nvjpeg_api.h: " #type_name " has another underlying type than in nvjpeg.h");
RESNET_NVJPEG_ENUMS(RESNET_CHECK_ENUM_TYPE)
#undef RESNET_CHECK_ENUM_TYPE

#define RESNET_CHECK_VALUE(enumerator, number)                                                      \
  static_assert(static_cast<long long>(nvjpeg::enumerator) == static_cast<long long>(::enumerator), \
                "nvjpeg_api.h: " #enumerator " has another value than in nvjpeg.h");                \
  static_assert(std::is_same<RealT<decltype(nvjpeg::enumerator)>, decltype(::enumerator)>::value,   \
                "nvjpeg_api.h: " #enumerator " belongs to another enum than in nvjpeg.h");
#define RESNET_CHECK_VALUES(type_name, values) values(RESNET_CHECK_VALUE)
RESNET_NVJPEG_ENUMS(RESNET_CHECK_VALUES)
#undef RESNET_CHECK_VALUES
#undef RESNET_CHECK_VALUE

// ---- structs: size, alignment, and each field's offset and type ----------------------------------------------
#define RESNET_CHECK_STRUCT(type_name, fields)                                          \
  static_assert(sizeof(nvjpeg::type_name) == sizeof(::type_name),                       \
                "nvjpeg_api.h: " #type_name " has another size than in nvjpeg.h");      \
  static_assert(alignof(nvjpeg::type_name) == alignof(::type_name),                     \
                "nvjpeg_api.h: " #type_name " has another alignment than in nvjpeg.h"); \
  fields(RESNET_CHECK_FIELD_OF_##type_name)
#define RESNET_CHECK_FIELD_IN(type_name, field)                                                               \
  static_assert(offsetof(nvjpeg::type_name, field) == offsetof(::type_name, field),                           \
                "nvjpeg_api.h: " #type_name "::" #field " is at another offset than in nvjpeg.h");            \
  static_assert(std::is_same<RealT<decltype(nvjpeg::type_name::field)>, decltype(::type_name::field)>::value, \
                "nvjpeg_api.h: " #type_name "::" #field " has another type than in nvjpeg.h");
#define RESNET_CHECK_FIELD_OF_nvjpegImage_t(type, field, extent) RESNET_CHECK_FIELD_IN(nvjpegImage_t, field)
#define RESNET_CHECK_FIELD_OF_nvjpegDevAllocator_t(type, field, extent) \
  RESNET_CHECK_FIELD_IN(nvjpegDevAllocator_t, field)
#define RESNET_CHECK_FIELD_OF_nvjpegPinnedAllocator_t(type, field, extent) \
  RESNET_CHECK_FIELD_IN(nvjpegPinnedAllocator_t, field)
RESNET_NVJPEG_STRUCTS(RESNET_CHECK_STRUCT)
#undef RESNET_CHECK_STRUCT

// ---- functions: our pointer type, in nvJPEG's types, is exactly the type of &::nvjpegX -------------------------
#define RESNET_CHECK_FUNCTION(ret, name, params)                                   \
  static_assert(std::is_same<RealT<nvjpeg::PFN_##name>, decltype(&::name)>::value, \
                "nvjpeg_api.h: " #name " has another signature than in nvjpeg.h");
RESNET_NVJPEG_FUNCTIONS(RESNET_CHECK_FUNCTION)
#undef RESNET_CHECK_FUNCTION

}  // namespace header_check
}  // namespace resnet
