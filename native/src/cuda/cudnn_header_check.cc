// Compile-time proof that cudnn_api.h matches the real cuDNN headers: every enum value, the perf struct's size,
// alignment, field offsets and field types, and the type of every function. Built only where cudnn.h is found
// (CMake: CUDNN_INCLUDE_DIR, or searched; see CMakeLists.txt); produces no code. Each item comes from the same
// X-macro lists that cudnn_api.h is made of, so nothing declared there escapes the check, and a mismatch names
// the item in the static_assert's message. Our declarations live in namespace resnet::cudnn, cuDNN's at global
// scope, so both are visible here at once.
#include <cudnn.h>

#include <cstddef>
#include <type_traits>

#include "cuda/header_check_real.h"
#include "cuda/cudnn_api.h"

#if !defined(CUDNN_MAJOR) || CUDNN_MAJOR != 9
#error "cudnn_header_check: these cuDNN headers are not cuDNN 9 (CUDNN_MAJOR != 9); resnet-cudnn declares cuDNN 9"
#endif

namespace resnet {
namespace header_check {

// Real<T>, from header_check_real.h, specialised for our enums and structs.
#define RESNET_REAL_ENUM(type_name, values) \
  template <>                               \
  struct Real<cudnn::type_name> {           \
    using type = ::type_name;               \
  };
RESNET_CUDNN_ENUMS(RESNET_REAL_ENUM)
#undef RESNET_REAL_ENUM
template <>
struct Real<cudnn::cudnnConvolutionFwdAlgoPerf_t> {
  using type = ::cudnnConvolutionFwdAlgoPerf_t;
};

// ---- enums: each type's size and underlying type, each value, and that it belongs to the same enum ----------
#define RESNET_CHECK_ENUM_TYPE(type_name, values)                                                                 \
  static_assert(sizeof(cudnn::type_name) == sizeof(::type_name),                                                  \
                "cudnn_api.h: " #type_name " has another size than in cudnn.h");                                  \
  static_assert(                                                                                                  \
      std::is_same<std::underlying_type<cudnn::type_name>::type, std::underlying_type<::type_name>::type>::value, \
      "cudnn_api.h: " #type_name " has another underlying type than in cudnn.h");
RESNET_CUDNN_ENUMS(RESNET_CHECK_ENUM_TYPE)
#undef RESNET_CHECK_ENUM_TYPE

#define RESNET_CHECK_VALUE(enumerator, number)                                                     \
  static_assert(static_cast<long long>(cudnn::enumerator) == static_cast<long long>(::enumerator), \
                "cudnn_api.h: " #enumerator " has another value than in cudnn.h");                 \
  static_assert(std::is_same<RealT<decltype(cudnn::enumerator)>, decltype(::enumerator)>::value,   \
                "cudnn_api.h: " #enumerator " belongs to another enum than in cudnn.h");
RESNET_CUDNN_STATUS_SINCE_9_0(RESNET_CHECK_VALUE)
#if CUDNN_VERSION >= 90200
RESNET_CUDNN_STATUS_SINCE_9_2(RESNET_CHECK_VALUE)
#endif
#if CUDNN_VERSION >= 90500
RESNET_CUDNN_STATUS_SINCE_9_5(RESNET_CHECK_VALUE)
#endif
#if CUDNN_VERSION >= 90600
RESNET_CUDNN_STATUS_SINCE_9_6(RESNET_CHECK_VALUE)
#endif
#if CUDNN_VERSION >= 91800
RESNET_CUDNN_STATUS_SINCE_9_18(RESNET_CHECK_VALUE)
#endif
RESNET_CUDNN_STATUS_ALIASES(RESNET_CHECK_VALUE)
RESNET_CUDNN_DATA_TYPE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_TENSOR_FORMAT_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_CONVOLUTION_MODE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_MATH_TYPE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_CONVOLUTION_FWD_ALGO_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_ACTIVATION_MODE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_NAN_PROPAGATION_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_DETERMINISM_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_BACKEND_DESCRIPTOR_TYPE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_BACKEND_ATTRIBUTE_NAME_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_BACKEND_ATTRIBUTE_TYPE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_POINTWISE_MODE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_HEUR_MODE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_NUMERICAL_NOTE_VALUES(RESNET_CHECK_VALUE)
RESNET_CUDNN_BEHAVIOR_NOTE_VALUES(RESNET_CHECK_VALUE)
#undef RESNET_CHECK_VALUE

// ---- cudnnConvolutionFwdAlgoPerf_t: size, alignment, and each field's offset and type ------------------------
static_assert(sizeof(cudnn::cudnnConvolutionFwdAlgoPerf_t) == sizeof(::cudnnConvolutionFwdAlgoPerf_t),
              "cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t has another size than in cudnn.h");
static_assert(alignof(cudnn::cudnnConvolutionFwdAlgoPerf_t) == alignof(::cudnnConvolutionFwdAlgoPerf_t),
              "cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t has another alignment than in cudnn.h");
#define RESNET_CHECK_FIELD(type, field, extent)                                                                 \
  static_assert(offsetof(cudnn::cudnnConvolutionFwdAlgoPerf_t, field) ==                                        \
                    offsetof(::cudnnConvolutionFwdAlgoPerf_t, field),                                           \
                "cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t::" #field " is at another offset than in cudnn.h"); \
  static_assert(std::is_same<RealT<decltype(cudnn::cudnnConvolutionFwdAlgoPerf_t::field)>,                      \
                             decltype(::cudnnConvolutionFwdAlgoPerf_t::field)>::value,                          \
                "cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t::" #field " has another type than in cudnn.h");
RESNET_CUDNN_FWD_ALGO_PERF_FIELDS(RESNET_CHECK_FIELD)
#undef RESNET_CHECK_FIELD

// cudnnBackendDescriptor_t is cuDNN's `void *` typedef, not a struct of ours: the function checks below rely on it.
static_assert(std::is_same<cudnn::cudnnBackendDescriptor_t, ::cudnnBackendDescriptor_t>::value,
              "cudnn_api.h: cudnnBackendDescriptor_t is another type than in cudnn.h");

// ---- functions: our pointer type, in cuDNN's types, is exactly the type of &::cudnnX --------------------------
#define RESNET_CHECK_FUNCTION(ret, name, params)                                  \
  static_assert(std::is_same<RealT<cudnn::PFN_##name>, decltype(&::name)>::value, \
                "cudnn_api.h: " #name " has another signature than in cudnn.h");
RESNET_CUDNN_FUNCTIONS(RESNET_CHECK_FUNCTION)
#undef RESNET_CHECK_FUNCTION

}  // namespace header_check
}  // namespace resnet
