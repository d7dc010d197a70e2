// The type mapping of the header cross-checks (cudnn_header_check.cc, nvjpeg_header_check.cc): Real<T> is T with
// each of our declarations replaced by the library's own, through pointers, const and function types, so that a
// function-pointer type of ours can be compared with decltype(&::libraryFunction). Each check specialises Real,
// in this namespace, for its own enums and structs.
#pragma once

namespace resnet {
namespace header_check {

template <typename T>
struct Real {
  using type = T;
};
template <typename T>
struct Real<T*> {
  using type = typename Real<T>::type*;
};
template <typename T>
struct Real<const T> {
  using type = const typename Real<T>::type;
};
template <typename R, typename... Args>
struct Real<R (*)(Args...)> {
  using type = typename Real<R>::type (*)(typename Real<Args>::type...);
};

template <typename T>
using RealT = typename Real<T>::type;

}  // namespace header_check
}  // namespace resnet
