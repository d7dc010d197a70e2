// The subset of the cuDNN 9 C API the CUDA backend calls, declared here because the build machines have no
// cuDNN headers (and NVIDIA's may not be vendored): types and enums with cuDNN's own names and values in
// namespace resnet::cudnn, and `CudnnApi`, one function pointer per cuDNN function, filled by the loader
// (cudnn_loader.cc) through dlsym. Everything is generated from the X-macro lists below, so the enums, the
// function table, the loader and the header cross-check (cudnn_header_check.cc, which compares all of it
// with the real cudnn.h wherever one is installed) cannot drift apart. Values: cuDNN 9.6 headers, with the
// cuDNN version that introduced each later status code (see ../shared/reference/cudnn.md §2.e).
#pragma once

#include <cstddef>
#include <cstdint>

// cuDNN's opaque handle types are incomplete structs at global scope; declaring the same structs (never
// defining them) makes our function types identical to cuDNN's, which is what the header check asserts.
// CUstream_st is the CUDA runtime's own stream struct (cudaStream_t is `struct CUstream_st*`), so no CUDA
// header is needed here.
struct cudnnContext;
struct cudnnTensorStruct;
struct cudnnFilterStruct;
struct cudnnConvolutionStruct;
struct cudnnActivationStruct;
struct CUstream_st;

namespace resnet {
namespace cudnn {

using cudnnHandle_t = ::cudnnContext*;
using cudnnTensorDescriptor_t = ::cudnnTensorStruct*;
using cudnnFilterDescriptor_t = ::cudnnFilterStruct*;
using cudnnConvolutionDescriptor_t = ::cudnnConvolutionStruct*;
using cudnnActivationDescriptor_t = ::cudnnActivationStruct*;
using cudaStream_t = ::CUstream_st*;
/// The graph (backend) API's descriptors are untyped: `typedef void *cudnnBackendDescriptor_t` in cudnn_graph.h.
using cudnnBackendDescriptor_t = void*;

// ---- enums: X(name, value) ---------------------------------------------------------------------------------
// cudnnStatus_t was renumbered in cuDNN 9 (categories of 1000); later 9.x releases added codes, listed apart so
// that the header check compares each only against headers recent enough to declare it.
#define RESNET_CUDNN_STATUS_SINCE_9_0(X)                           \
  X(CUDNN_STATUS_SUCCESS, 0)                                       \
  X(CUDNN_STATUS_NOT_INITIALIZED, 1001)                            \
  X(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH, 1002)                \
  X(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH, 1003)             \
  X(CUDNN_STATUS_DEPRECATED, 1004)                                 \
  X(CUDNN_STATUS_LICENSE_ERROR, 1005)                              \
  X(CUDNN_STATUS_RUNTIME_IN_PROGRESS, 1006)                        \
  X(CUDNN_STATUS_RUNTIME_FP_OVERFLOW, 1007)                        \
  X(CUDNN_STATUS_BAD_PARAM, 2000)                                  \
  X(CUDNN_STATUS_INVALID_VALUE, 2001)                              \
  X(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, 2002)                     \
  X(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER, 2003)               \
  X(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, 2004)                    \
  X(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND, 2005)                     \
  X(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT, 2006)                \
  X(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH, 2007)                  \
  X(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, 2008)                   \
  X(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES, 2009)               \
  X(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE, 2010)                   \
  X(CUDNN_STATUS_NOT_SUPPORTED, 3000)                              \
  X(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN, 3001)                \
  X(CUDNN_STATUS_NOT_SUPPORTED_SHAPE, 3002)                        \
  X(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE, 3003)                    \
  X(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT, 3004)                       \
  X(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER, 3005)     \
  X(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART, 3006)          \
  X(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH, 3007)                \
  X(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING, 3008) \
  X(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE, 3009)       \
  X(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT, 3010)   \
  X(CUDNN_STATUS_NOT_SUPPORTED_PADDING, 3011)                      \
  X(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM, 3012)             \
  X(CUDNN_STATUS_INTERNAL_ERROR, 4000)                             \
  X(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED, 4001)          \
  X(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE, 4002)            \
  X(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, 4003)      \
  X(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, 4004)    \
  X(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM, 4005)            \
  X(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED, 4006)     \
  X(CUDNN_STATUS_EXECUTION_FAILED, 5000)                           \
  X(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER, 5001)               \
  X(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS, 5002)                    \
  X(CUDNN_STATUS_EXECUTION_FAILED_CUDART, 5003)                    \
  X(CUDNN_STATUS_EXECUTION_FAILED_CURAND, 5004)
#define RESNET_CUDNN_STATUS_SINCE_9_2(X) X(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED, 1008)
#define RESNET_CUDNN_STATUS_SINCE_9_5(X)              \
  X(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH, 2011) \
  X(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API, 3013)
#define RESNET_CUDNN_STATUS_SINCE_9_6(X) X(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE, 2012)
#define RESNET_CUDNN_STATUS_SINCE_9_18(X) X(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE, 3014)
/// Every distinct cudnnStatus_t value (each named once; cudnn_status_name switches over this list).
#define RESNET_CUDNN_STATUS_VALUES(X) \
  RESNET_CUDNN_STATUS_SINCE_9_0(X)    \
  RESNET_CUDNN_STATUS_SINCE_9_2(X)    \
  RESNET_CUDNN_STATUS_SINCE_9_5(X)    \
  RESNET_CUDNN_STATUS_SINCE_9_6(X)    \
  RESNET_CUDNN_STATUS_SINCE_9_18(X)
/// cuDNN 9's deprecated second names for values above (cuDNN 8 spellings).
#define RESNET_CUDNN_STATUS_ALIASES(X)               \
  X(CUDNN_STATUS_ALLOC_FAILED, 4003)                 \
  X(CUDNN_STATUS_ARCH_MISMATCH, 3007)                \
  X(CUDNN_STATUS_MAPPING_ERROR, 4006)                \
  X(CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING, 3008) \
  X(CUDNN_STATUS_VERSION_MISMATCH, 1002)

#define RESNET_CUDNN_DATA_TYPE_VALUES(X) \
  X(CUDNN_DATA_FLOAT, 0)                 \
  X(CUDNN_DATA_DOUBLE, 1)                \
  X(CUDNN_DATA_HALF, 2)                  \
  X(CUDNN_DATA_INT8, 3)                  \
  X(CUDNN_DATA_INT32, 4)                 \
  X(CUDNN_DATA_INT8x4, 5)                \
  X(CUDNN_DATA_UINT8, 6)                 \
  X(CUDNN_DATA_UINT8x4, 7)               \
  X(CUDNN_DATA_INT8x32, 8)               \
  X(CUDNN_DATA_BFLOAT16, 9)              \
  X(CUDNN_DATA_INT64, 10)                \
  X(CUDNN_DATA_BOOLEAN, 11)              \
  X(CUDNN_DATA_FP8_E4M3, 12)             \
  X(CUDNN_DATA_FP8_E5M2, 13)             \
  X(CUDNN_DATA_FAST_FLOAT_FOR_FP8, 14)

#define RESNET_CUDNN_TENSOR_FORMAT_VALUES(X) \
  X(CUDNN_TENSOR_NCHW, 0)                    \
  X(CUDNN_TENSOR_NHWC, 1)                    \
  X(CUDNN_TENSOR_NCHW_VECT_C, 2)

#define RESNET_CUDNN_CONVOLUTION_MODE_VALUES(X) \
  X(CUDNN_CONVOLUTION, 0)                       \
  X(CUDNN_CROSS_CORRELATION, 1)

#define RESNET_CUDNN_MATH_TYPE_VALUES(X)      \
  X(CUDNN_DEFAULT_MATH, 0)                    \
  X(CUDNN_TENSOR_OP_MATH, 1)                  \
  X(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, 2) \
  X(CUDNN_FMA_MATH, 3)

#define RESNET_CUDNN_CONVOLUTION_FWD_ALGO_VALUES(X)      \
  X(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, 0)         \
  X(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, 1) \
  X(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, 2)                  \
  X(CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, 3)                \
  X(CUDNN_CONVOLUTION_FWD_ALGO_FFT, 4)                   \
  X(CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, 5)            \
  X(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, 6)              \
  X(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, 7)     \
  X(CUDNN_CONVOLUTION_FWD_ALGO_COUNT, 8)

#define RESNET_CUDNN_ACTIVATION_MODE_VALUES(X) \
  X(CUDNN_ACTIVATION_SIGMOID, 0)               \
  X(CUDNN_ACTIVATION_RELU, 1)                  \
  X(CUDNN_ACTIVATION_TANH, 2)                  \
  X(CUDNN_ACTIVATION_CLIPPED_RELU, 3)          \
  X(CUDNN_ACTIVATION_ELU, 4)                   \
  X(CUDNN_ACTIVATION_IDENTITY, 5)              \
  X(CUDNN_ACTIVATION_SWISH, 6)

#define RESNET_CUDNN_NAN_PROPAGATION_VALUES(X) \
  X(CUDNN_NOT_PROPAGATE_NAN, 0)                \
  X(CUDNN_PROPAGATE_NAN, 1)

#define RESNET_CUDNN_DETERMINISM_VALUES(X) \
  X(CUDNN_NON_DETERMINISTIC, 0)            \
  X(CUDNN_DETERMINISTIC, 1)

// ---- the graph (backend) API: only the enumerators we use (each enum has more; the header check compares ours) --
#define RESNET_CUDNN_BACKEND_DESCRIPTOR_TYPE_VALUES(X)          \
  X(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, 0)                      \
  X(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, 1)                    \
  X(CUDNN_BACKEND_ENGINE_DESCRIPTOR, 2)                         \
  X(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, 3)                      \
  X(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, 4)                     \
  X(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, 5)                 \
  X(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, 10) \
  X(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, 13)           \
  X(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, 15)                \
  X(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, 16)                  \
  X(CUDNN_BACKEND_TENSOR_DESCRIPTOR, 17)

#define RESNET_CUDNN_BACKEND_ATTRIBUTE_NAME_VALUES(X)        \
  X(CUDNN_ATTR_POINTWISE_MODE, 0)                            \
  X(CUDNN_ATTR_POINTWISE_MATH_PREC, 1)                       \
  X(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, 100)                   \
  X(CUDNN_ATTR_CONVOLUTION_CONV_MODE, 101)                   \
  X(CUDNN_ATTR_CONVOLUTION_DILATIONS, 102)                   \
  X(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, 103)              \
  X(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, 104)               \
  X(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, 105)                \
  X(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, 106)                \
  X(CUDNN_ATTR_ENGINEHEUR_MODE, 200)                         \
  X(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, 201)              \
  X(CUDNN_ATTR_ENGINEHEUR_RESULTS, 202)                      \
  X(CUDNN_ATTR_ENGINECFG_ENGINE, 300)                        \
  X(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, 400)                   \
  X(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, 401)            \
  X(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, 402)           \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 700)     \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 701)      \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, 702) \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, 703)         \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, 704)         \
  X(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, 705)         \
  X(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, 750)       \
  X(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, 751)               \
  X(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, 752)               \
  X(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, 753)               \
  X(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, 800)                   \
  X(CUDNN_ATTR_OPERATIONGRAPH_OPS, 801)                      \
  X(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 900)                   \
  X(CUDNN_ATTR_TENSOR_DATA_TYPE, 901)                        \
  X(CUDNN_ATTR_TENSOR_DIMENSIONS, 902)                       \
  X(CUDNN_ATTR_TENSOR_STRIDES, 903)                          \
  X(CUDNN_ATTR_TENSOR_UNIQUE_ID, 906)                        \
  X(CUDNN_ATTR_TENSOR_IS_VIRTUAL, 907)                       \
  X(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, 1000)                \
  X(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, 1001)             \
  X(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, 1003)                 \
  X(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, 1301)                    \
  X(CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, 1303)                  \
  X(CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, 1305)

#define RESNET_CUDNN_BACKEND_ATTRIBUTE_TYPE_VALUES(X) \
  X(CUDNN_TYPE_HANDLE, 0)                             \
  X(CUDNN_TYPE_DATA_TYPE, 1)                          \
  X(CUDNN_TYPE_BOOLEAN, 2)                            \
  X(CUDNN_TYPE_INT64, 3)                              \
  X(CUDNN_TYPE_FLOAT, 4)                              \
  X(CUDNN_TYPE_DOUBLE, 5)                             \
  X(CUDNN_TYPE_VOID_PTR, 6)                           \
  X(CUDNN_TYPE_CONVOLUTION_MODE, 7)                   \
  X(CUDNN_TYPE_HEUR_MODE, 8)                          \
  X(CUDNN_TYPE_NUMERICAL_NOTE, 11)                    \
  X(CUDNN_TYPE_POINTWISE_MODE, 14)                    \
  X(CUDNN_TYPE_BACKEND_DESCRIPTOR, 15)                \
  X(CUDNN_TYPE_BEHAVIOR_NOTE, 19)

#define RESNET_CUDNN_POINTWISE_MODE_VALUES(X) \
  X(CUDNN_POINTWISE_ADD, 0)                   \
  X(CUDNN_POINTWISE_MUL, 1)                   \
  X(CUDNN_POINTWISE_IDENTITY, 21)             \
  X(CUDNN_POINTWISE_RELU_FWD, 100)

#define RESNET_CUDNN_HEUR_MODE_VALUES(X) \
  X(CUDNN_HEUR_MODE_INSTANT, 0)          \
  X(CUDNN_HEUR_MODE_B, 1)                \
  X(CUDNN_HEUR_MODE_FALLBACK, 2)         \
  X(CUDNN_HEUR_MODE_A, 3)

#define RESNET_CUDNN_NUMERICAL_NOTE_VALUES(X)            \
  X(CUDNN_NUMERICAL_NOTE_TENSOR_CORE, 0)                 \
  X(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS, 1)         \
  X(CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION, 2) \
  X(CUDNN_NUMERICAL_NOTE_FFT, 3)                         \
  X(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC, 4)            \
  X(CUDNN_NUMERICAL_NOTE_WINOGRAD, 5)

#define RESNET_CUDNN_BEHAVIOR_NOTE_VALUES(X) X(CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION, 0)

/// Every enum: E(type, value list). The status enum also carries its aliases (added below by hand).
#define RESNET_CUDNN_ENUMS(E)                                                  \
  E(cudnnStatus_t, RESNET_CUDNN_STATUS_VALUES)                                 \
  E(cudnnDataType_t, RESNET_CUDNN_DATA_TYPE_VALUES)                            \
  E(cudnnTensorFormat_t, RESNET_CUDNN_TENSOR_FORMAT_VALUES)                    \
  E(cudnnConvolutionMode_t, RESNET_CUDNN_CONVOLUTION_MODE_VALUES)              \
  E(cudnnMathType_t, RESNET_CUDNN_MATH_TYPE_VALUES)                            \
  E(cudnnConvolutionFwdAlgo_t, RESNET_CUDNN_CONVOLUTION_FWD_ALGO_VALUES)       \
  E(cudnnActivationMode_t, RESNET_CUDNN_ACTIVATION_MODE_VALUES)                \
  E(cudnnNanPropagation_t, RESNET_CUDNN_NAN_PROPAGATION_VALUES)                \
  E(cudnnDeterminism_t, RESNET_CUDNN_DETERMINISM_VALUES)                       \
  E(cudnnBackendDescriptorType_t, RESNET_CUDNN_BACKEND_DESCRIPTOR_TYPE_VALUES) \
  E(cudnnBackendAttributeName_t, RESNET_CUDNN_BACKEND_ATTRIBUTE_NAME_VALUES)   \
  E(cudnnBackendAttributeType_t, RESNET_CUDNN_BACKEND_ATTRIBUTE_TYPE_VALUES)   \
  E(cudnnPointwiseMode_t, RESNET_CUDNN_POINTWISE_MODE_VALUES)                  \
  E(cudnnBackendHeurMode_t, RESNET_CUDNN_HEUR_MODE_VALUES)                     \
  E(cudnnBackendNumericalNote_t, RESNET_CUDNN_NUMERICAL_NOTE_VALUES)           \
  E(cudnnBackendBehaviorNote_t, RESNET_CUDNN_BEHAVIOR_NOTE_VALUES)

#define RESNET_CUDNN_ENUMERATOR(name, value) name = value,

// Like cuDNN's, the enums have no fixed underlying type: the compiler picks the same one for both.
enum cudnnStatus_t {
  RESNET_CUDNN_STATUS_VALUES(RESNET_CUDNN_ENUMERATOR) RESNET_CUDNN_STATUS_ALIASES(RESNET_CUDNN_ENUMERATOR)
};
enum cudnnDataType_t { RESNET_CUDNN_DATA_TYPE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnTensorFormat_t { RESNET_CUDNN_TENSOR_FORMAT_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnConvolutionMode_t { RESNET_CUDNN_CONVOLUTION_MODE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnMathType_t { RESNET_CUDNN_MATH_TYPE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnConvolutionFwdAlgo_t { RESNET_CUDNN_CONVOLUTION_FWD_ALGO_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnActivationMode_t { RESNET_CUDNN_ACTIVATION_MODE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnNanPropagation_t { RESNET_CUDNN_NAN_PROPAGATION_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnDeterminism_t { RESNET_CUDNN_DETERMINISM_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendDescriptorType_t { RESNET_CUDNN_BACKEND_DESCRIPTOR_TYPE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendAttributeName_t { RESNET_CUDNN_BACKEND_ATTRIBUTE_NAME_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendAttributeType_t { RESNET_CUDNN_BACKEND_ATTRIBUTE_TYPE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnPointwiseMode_t { RESNET_CUDNN_POINTWISE_MODE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendHeurMode_t { RESNET_CUDNN_HEUR_MODE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendNumericalNote_t { RESNET_CUDNN_NUMERICAL_NOTE_VALUES(RESNET_CUDNN_ENUMERATOR) };
enum cudnnBackendBehaviorNote_t { RESNET_CUDNN_BEHAVIOR_NOTE_VALUES(RESNET_CUDNN_ENUMERATOR) };

#undef RESNET_CUDNN_ENUMERATOR

// ---- structs: F(type, field, array extent or nothing) --------------------------------------------------------
/// cudnnConvolutionFwdAlgoPerf_t (cudnn_cnn.h): 48 bytes on x86-64, `memory` at offset 16.
#define RESNET_CUDNN_FWD_ALGO_PERF_FIELDS(F) \
  F(cudnnConvolutionFwdAlgo_t, algo, )       \
  F(cudnnStatus_t, status, )                 \
  F(float, time, )                           \
  F(size_t, memory, )                        \
  F(cudnnDeterminism_t, determinism, )       \
  F(cudnnMathType_t, mathType, )             \
  F(int, reserved, [3])

#define RESNET_CUDNN_FIELD(type, field, extent) type field extent;
struct cudnnConvolutionFwdAlgoPerf_t {
  RESNET_CUDNN_FWD_ALGO_PERF_FIELDS(RESNET_CUDNN_FIELD)
};
#undef RESNET_CUDNN_FIELD

// ---- functions: X(return type, name, (parameters)), cuDNN's exact signatures ----------------------------------
#define RESNET_CUDNN_FUNCTIONS(X)                                                                                      \
  X(size_t, cudnnGetVersion, (void))                                                                                   \
  X(size_t, cudnnGetCudartVersion, (void))                                                                             \
  X(const char*, cudnnGetErrorString, (cudnnStatus_t status))                                                          \
  X(void, cudnnGetLastErrorString, (char* message, size_t max_size))                                                   \
  X(cudnnStatus_t, cudnnCreate, (cudnnHandle_t * handle))                                                              \
  X(cudnnStatus_t, cudnnDestroy, (cudnnHandle_t handle))                                                               \
  X(cudnnStatus_t, cudnnSetStream, (cudnnHandle_t handle, cudaStream_t streamId))                                      \
  X(cudnnStatus_t, cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t * tensorDesc))                                \
  X(cudnnStatus_t, cudnnSetTensor4dDescriptor,                                                                         \
    (cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format, cudnnDataType_t dataType, int n, int c, int h,    \
     int w))                                                                                                           \
  X(cudnnStatus_t, cudnnSetTensor4dDescriptorEx,                                                                       \
    (cudnnTensorDescriptor_t tensorDesc, cudnnDataType_t dataType, int n, int c, int h, int w, int nStride,            \
     int cStride, int hStride, int wStride))                                                                           \
  X(cudnnStatus_t, cudnnDestroyTensorDescriptor, (cudnnTensorDescriptor_t tensorDesc))                                 \
  X(cudnnStatus_t, cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t * filterDesc))                                \
  X(cudnnStatus_t, cudnnSetFilter4dDescriptor,                                                                         \
    (cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType, cudnnTensorFormat_t format, int k, int c, int h,    \
     int w))                                                                                                           \
  X(cudnnStatus_t, cudnnDestroyFilterDescriptor, (cudnnFilterDescriptor_t filterDesc))                                 \
  X(cudnnStatus_t, cudnnCreateConvolutionDescriptor, (cudnnConvolutionDescriptor_t * convDesc))                        \
  X(cudnnStatus_t, cudnnSetConvolution2dDescriptor,                                                                    \
    (cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,        \
     cudnnConvolutionMode_t mode, cudnnDataType_t computeType))                                                        \
  X(cudnnStatus_t, cudnnSetConvolutionGroupCount, (cudnnConvolutionDescriptor_t convDesc, int groupCount))             \
  X(cudnnStatus_t, cudnnSetConvolutionMathType, (cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType))     \
  X(cudnnStatus_t, cudnnDestroyConvolutionDescriptor, (cudnnConvolutionDescriptor_t convDesc))                         \
  X(cudnnStatus_t, cudnnCreateActivationDescriptor, (cudnnActivationDescriptor_t * activationDesc))                    \
  X(cudnnStatus_t, cudnnSetActivationDescriptor,                                                                       \
    (cudnnActivationDescriptor_t activationDesc, cudnnActivationMode_t mode, cudnnNanPropagation_t reluNanOpt,         \
     double coef))                                                                                                     \
  X(cudnnStatus_t, cudnnDestroyActivationDescriptor, (cudnnActivationDescriptor_t activationDesc))                     \
  X(cudnnStatus_t, cudnnGetConvolutionForwardAlgorithmMaxCount, (cudnnHandle_t handle, int* count))                    \
  X(cudnnStatus_t, cudnnGetConvolutionForwardAlgorithm_v7,                                                             \
    (cudnnHandle_t handle, cudnnTensorDescriptor_t srcDesc, cudnnFilterDescriptor_t filterDesc,                        \
     cudnnConvolutionDescriptor_t convDesc, cudnnTensorDescriptor_t destDesc, int requestedAlgoCount,                  \
     int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults))                                              \
  X(cudnnStatus_t, cudnnFindConvolutionForwardAlgorithmEx,                                                             \
    (cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc, const void* x, cudnnFilterDescriptor_t wDesc, const void* w, \
     cudnnConvolutionDescriptor_t convDesc, cudnnTensorDescriptor_t yDesc, void* y, int requestedAlgoCount,            \
     int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace,                              \
     size_t workSpaceSizeInBytes))                                                                                     \
  X(cudnnStatus_t, cudnnGetConvolutionForwardWorkspaceSize,                                                            \
    (cudnnHandle_t handle, cudnnTensorDescriptor_t xDesc, cudnnFilterDescriptor_t wDesc,                               \
     cudnnConvolutionDescriptor_t convDesc, cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdAlgo_t algo,             \
     size_t * sizeInBytes))                                                                                            \
  X(cudnnStatus_t, cudnnConvolutionForward,                                                                            \
    (cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t xDesc, const void* x,                            \
     cudnnFilterDescriptor_t wDesc, const void* w, cudnnConvolutionDescriptor_t convDesc,                              \
     cudnnConvolutionFwdAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* beta,                   \
     cudnnTensorDescriptor_t yDesc, void* y))                                                                          \
  X(cudnnStatus_t, cudnnConvolutionBiasActivationForward,                                                              \
    (cudnnHandle_t handle, const void* alpha1, cudnnTensorDescriptor_t xDesc, const void* x,                           \
     cudnnFilterDescriptor_t wDesc, const void* w, cudnnConvolutionDescriptor_t convDesc,                              \
     cudnnConvolutionFwdAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* alpha2,                 \
     cudnnTensorDescriptor_t zDesc, const void* z, cudnnTensorDescriptor_t biasDesc, const void* bias,                 \
     cudnnActivationDescriptor_t activationDesc, cudnnTensorDescriptor_t yDesc, void* y))                              \
  X(cudnnStatus_t, cudnnAddTensor,                                                                                     \
    (cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t aDesc, const void* A, const void* beta,          \
     cudnnTensorDescriptor_t cDesc, void* C))                                                                          \
  X(cudnnStatus_t, cudnnBackendCreateDescriptor,                                                                       \
    (cudnnBackendDescriptorType_t descriptorType, cudnnBackendDescriptor_t * descriptor))                              \
  X(cudnnStatus_t, cudnnBackendDestroyDescriptor, (cudnnBackendDescriptor_t descriptor))                               \
  X(cudnnStatus_t, cudnnBackendFinalize, (cudnnBackendDescriptor_t descriptor))                                        \
  X(cudnnStatus_t, cudnnBackendSetAttribute,                                                                           \
    (cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t attributeName,                                   \
     cudnnBackendAttributeType_t attributeType, int64_t elementCount, const void* arrayOfElements))                    \
  X(cudnnStatus_t, cudnnBackendGetAttribute,                                                                           \
    (cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t attributeName,                                   \
     cudnnBackendAttributeType_t attributeType, int64_t requestedElementCount, int64_t * elementCount,                 \
     void* arrayOfElements))                                                                                           \
  X(cudnnStatus_t, cudnnBackendExecute,                                                                                \
    (cudnnHandle_t handle, cudnnBackendDescriptor_t executionPlan, cudnnBackendDescriptor_t variantPack))

/// PFN_cudnnCreate, …: the pointer type of each function (CUDA's cudaTypedefs.h spelling).
#define RESNET_CUDNN_POINTER_TYPE(ret, name, params) using PFN_##name = ret(*) params;
RESNET_CUDNN_FUNCTIONS(RESNET_CUDNN_POINTER_TYPE)
#undef RESNET_CUDNN_POINTER_TYPE

/// The number of functions in RESNET_CUDNN_FUNCTIONS.
#define RESNET_CUDNN_COUNT_ONE(ret, name, params) +1
constexpr int kFunctionCount = 0 RESNET_CUDNN_FUNCTIONS(RESNET_CUDNN_COUNT_ONE);
#undef RESNET_CUDNN_COUNT_ONE

}  // namespace cudnn

namespace cuda {

/// The loaded cuDNN: one pointer per function, named like the function (`api.cudnnCreate(&handle)`). The
/// loader fills every member or fails, so a CudnnApi it hands out has no null member.
struct CudnnApi {
#define RESNET_CUDNN_API_MEMBER(ret, name, params) cudnn::PFN_##name name = nullptr;
  RESNET_CUDNN_FUNCTIONS(RESNET_CUDNN_API_MEMBER)
#undef RESNET_CUDNN_API_MEMBER
};

}  // namespace cuda
}  // namespace resnet
