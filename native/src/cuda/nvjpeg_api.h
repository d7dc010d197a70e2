// The subset of nvJPEG's C API the GPU image decoder calls, declared here because nvjpeg.h is not installed
// where the addon builds (like cudnn_api.h for cuDNN): types and enums with nvJPEG's own names and values in
// namespace resnet::nvjpeg, and `NvjpegApi`, one function pointer per nvJPEG function, filled by the loader
// (nvjpeg_loader.cc) through dlsym. Everything is generated from the X-macro lists below, so the enums, the
// function table, the loader and the header cross-check (nvjpeg_header_check.cc, compiled wherever a real
// nvjpeg.h is found) cannot drift apart.
//
// Values and signatures: NVIDIA's nvJPEG documentation (docs.nvidia.com/cuda/nvjpeg, chapter "JPEG Decoding"),
// section "nvJPEG Type Declarations" (nvJPEG Backend, Image Descriptor, Output Format, Chroma Subsampling,
// API Return Status Codes) and section "nvJPEG API Reference" (the helper API: nvjpegCreateEx, nvjpegDestroy,
// nvjpegJpegStateCreate/Destroy, nvjpegGetHardwareDecoderInfo; retrieving image information:
// nvjpegGetImageInfo; batched decoding: nvjpegDecodeBatchedInitialize, nvjpegDecodeBatched,
// nvjpegDecodeBatchedSupported; decoupled decoding: decoder, state, buffers, JPEG stream, decode parameters,
// nvjpegDecodeJpegHost / TransferToDevice / Device). libraryPropertyType is CUDA's (library_types.h). The
// same in CUDA 12.x and 13.0; the header check compares all of it with a real nvjpeg.h wherever one is found.
// Which calls, and why: the hardware engines take baseline JPEGs in one batched call (nvjpegCreateEx with
// NVJPEG_BACKEND_HARDWARE, nvjpegDecodeBatchedInitialize + nvjpegDecodeBatched, as torchvision's
// decode_jpegs_cuda and DALI do); everything else the GPU takes (progressive, extended) goes through the
// decoupled API with the default backend, one image at a time (host phase, transfer, device phase), which is
// the API nvJPEG documents for backends other than the hardware one.
#pragma once

#include <cstddef>

// nvJPEG's opaque handle types are incomplete structs at global scope; declaring the same structs (never
// defining them) makes our function types identical to nvJPEG's, which is what the header check asserts.
// CUstream_st is the CUDA runtime's stream struct (cudaStream_t is `struct CUstream_st*`).
struct nvjpegHandle;
struct nvjpegJpegState;
struct nvjpegJpegDecoder;
struct nvjpegBufferPinned;
struct nvjpegBufferDevice;
struct nvjpegJpegStream;
struct nvjpegDecodeParams;
struct CUstream_st;

namespace resnet {
namespace nvjpeg {

using nvjpegHandle_t = ::nvjpegHandle*;
using nvjpegJpegState_t = ::nvjpegJpegState*;
using nvjpegJpegDecoder_t = ::nvjpegJpegDecoder*;
using nvjpegBufferPinned_t = ::nvjpegBufferPinned*;
using nvjpegBufferDevice_t = ::nvjpegBufferDevice*;
using nvjpegJpegStream_t = ::nvjpegJpegStream*;
using nvjpegDecodeParams_t = ::nvjpegDecodeParams*;
using cudaStream_t = ::CUstream_st*;

/// NVJPEG_MAX_COMPONENT: the channel slots of nvjpegImage_t.
constexpr int kMaxComponent = 4;
/// NVJPEG_FLAGS_DEFAULT, the flags of nvjpegCreateEx.
constexpr unsigned int kFlagsDefault = 0;

// ---- enums: X(name, value) ---------------------------------------------------------------------------------
#define RESNET_NVJPEG_STATUS_VALUES(X)             \
  X(NVJPEG_STATUS_SUCCESS, 0)                      \
  X(NVJPEG_STATUS_NOT_INITIALIZED, 1)              \
  X(NVJPEG_STATUS_INVALID_PARAMETER, 2)            \
  X(NVJPEG_STATUS_BAD_JPEG, 3)                     \
  X(NVJPEG_STATUS_JPEG_NOT_SUPPORTED, 4)           \
  X(NVJPEG_STATUS_ALLOCATOR_FAILURE, 5)            \
  X(NVJPEG_STATUS_EXECUTION_FAILED, 6)             \
  X(NVJPEG_STATUS_ARCH_MISMATCH, 7)                \
  X(NVJPEG_STATUS_INTERNAL_ERROR, 8)               \
  X(NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED, 9) \
  X(NVJPEG_STATUS_INCOMPLETE_BITSTREAM, 10)

#define RESNET_NVJPEG_BACKEND_VALUES(X)  \
  X(NVJPEG_BACKEND_DEFAULT, 0)           \
  X(NVJPEG_BACKEND_HYBRID, 1)            \
  X(NVJPEG_BACKEND_GPU_HYBRID, 2)        \
  X(NVJPEG_BACKEND_HARDWARE, 3)          \
  X(NVJPEG_BACKEND_GPU_HYBRID_DEVICE, 4) \
  X(NVJPEG_BACKEND_HARDWARE_DEVICE, 5)

#define RESNET_NVJPEG_OUTPUT_FORMAT_VALUES(X) \
  X(NVJPEG_OUTPUT_UNCHANGED, 0)               \
  X(NVJPEG_OUTPUT_YUV, 1)                     \
  X(NVJPEG_OUTPUT_Y, 2)                       \
  X(NVJPEG_OUTPUT_RGB, 3)                     \
  X(NVJPEG_OUTPUT_BGR, 4)                     \
  X(NVJPEG_OUTPUT_RGBI, 5)                    \
  X(NVJPEG_OUTPUT_BGRI, 6)

#define RESNET_NVJPEG_CHROMA_SUBSAMPLING_VALUES(X) \
  X(NVJPEG_CSS_444, 0)                             \
  X(NVJPEG_CSS_422, 1)                             \
  X(NVJPEG_CSS_420, 2)                             \
  X(NVJPEG_CSS_440, 3)                             \
  X(NVJPEG_CSS_411, 4)                             \
  X(NVJPEG_CSS_410, 5)                             \
  X(NVJPEG_CSS_GRAY, 6)                            \
  X(NVJPEG_CSS_410V, 7)                            \
  X(NVJPEG_CSS_UNKNOWN, -1)

/// CUDA's libraryPropertyType (library_types.h), the argument of nvjpegGetProperty.
#define RESNET_LIBRARY_PROPERTY_TYPE_VALUES(X) \
  X(MAJOR_VERSION, 0)                          \
  X(MINOR_VERSION, 1)                          \
  X(PATCH_LEVEL, 2)

/// Every enum: E(type, value list).
#define RESNET_NVJPEG_ENUMS(E)                                          \
  E(nvjpegStatus_t, RESNET_NVJPEG_STATUS_VALUES)                        \
  E(nvjpegBackend_t, RESNET_NVJPEG_BACKEND_VALUES)                      \
  E(nvjpegOutputFormat_t, RESNET_NVJPEG_OUTPUT_FORMAT_VALUES)           \
  E(nvjpegChromaSubsampling_t, RESNET_NVJPEG_CHROMA_SUBSAMPLING_VALUES) \
  E(libraryPropertyType, RESNET_LIBRARY_PROPERTY_TYPE_VALUES)

#define RESNET_NVJPEG_ENUMERATOR(name, value) name = value,
// Like nvJPEG's, the enums have no fixed underlying type: the compiler picks the same one for both.
enum nvjpegStatus_t { RESNET_NVJPEG_STATUS_VALUES(RESNET_NVJPEG_ENUMERATOR) };
enum nvjpegBackend_t { RESNET_NVJPEG_BACKEND_VALUES(RESNET_NVJPEG_ENUMERATOR) };
enum nvjpegOutputFormat_t { RESNET_NVJPEG_OUTPUT_FORMAT_VALUES(RESNET_NVJPEG_ENUMERATOR) };
enum nvjpegChromaSubsampling_t { RESNET_NVJPEG_CHROMA_SUBSAMPLING_VALUES(RESNET_NVJPEG_ENUMERATOR) };
enum libraryPropertyType { RESNET_LIBRARY_PROPERTY_TYPE_VALUES(RESNET_NVJPEG_ENUMERATOR) };
#undef RESNET_NVJPEG_ENUMERATOR

// ---- structs: F(type, field, array extent or nothing) --------------------------------------------------------
/// nvjpegImage_t: one pointer and one pitch per channel; interleaved formats (RGBI) use slot 0 only.
#define RESNET_NVJPEG_IMAGE_FIELDS(F)         \
  F(unsigned char*, channel, [kMaxComponent]) \
  F(size_t, pitch, [kMaxComponent])

/// The allocators nvjpegCreateEx and the buffer constructors take (we pass null: cudaMalloc / cudaHostAlloc).
using tDevMalloc = int (*)(void**, size_t);
using tDevFree = int (*)(void*);
using tPinnedMalloc = int (*)(void**, size_t, unsigned int);
using tPinnedFree = int (*)(void*);
#define RESNET_NVJPEG_DEV_ALLOCATOR_FIELDS(F) \
  F(tDevMalloc, dev_malloc, )                 \
  F(tDevFree, dev_free, )
#define RESNET_NVJPEG_PINNED_ALLOCATOR_FIELDS(F) \
  F(tPinnedMalloc, pinned_malloc, )              \
  F(tPinnedFree, pinned_free, )

/// Every struct: S(type, field list).
#define RESNET_NVJPEG_STRUCTS(S)                              \
  S(nvjpegImage_t, RESNET_NVJPEG_IMAGE_FIELDS)                \
  S(nvjpegDevAllocator_t, RESNET_NVJPEG_DEV_ALLOCATOR_FIELDS) \
  S(nvjpegPinnedAllocator_t, RESNET_NVJPEG_PINNED_ALLOCATOR_FIELDS)

#define RESNET_NVJPEG_FIELD(type, field, extent) type field extent;
#define RESNET_NVJPEG_STRUCT(name, fields) \
  struct name {                            \
    fields(RESNET_NVJPEG_FIELD)            \
  };
RESNET_NVJPEG_STRUCTS(RESNET_NVJPEG_STRUCT)
#undef RESNET_NVJPEG_STRUCT
#undef RESNET_NVJPEG_FIELD

// ---- functions: X(return type, name, (parameters)), nvJPEG's exact signatures ---------------------------------
#define RESNET_NVJPEG_FUNCTIONS(X)                                                                                     \
  X(nvjpegStatus_t, nvjpegGetProperty, (libraryPropertyType type, int* value))                                         \
  X(nvjpegStatus_t, nvjpegCreateEx,                                                                                    \
    (nvjpegBackend_t backend, nvjpegDevAllocator_t * dev_allocator, nvjpegPinnedAllocator_t * pinned_allocator,        \
     unsigned int flags, nvjpegHandle_t* handle))                                                                      \
  X(nvjpegStatus_t, nvjpegDestroy, (nvjpegHandle_t handle))                                                            \
  X(nvjpegStatus_t, nvjpegGetHardwareDecoderInfo,                                                                      \
    (nvjpegHandle_t handle, unsigned int* num_engines, unsigned int* num_cores_per_engine))                            \
  X(nvjpegStatus_t, nvjpegJpegStateCreate, (nvjpegHandle_t handle, nvjpegJpegState_t * jpeg_handle))                   \
  X(nvjpegStatus_t, nvjpegJpegStateDestroy, (nvjpegJpegState_t jpeg_handle))                                           \
  X(nvjpegStatus_t, nvjpegGetImageInfo,                                                                                \
    (nvjpegHandle_t handle, const unsigned char* data, size_t length, int* nComponents,                                \
     nvjpegChromaSubsampling_t* subsampling, int* widths, int* heights))                                               \
  X(nvjpegStatus_t, nvjpegDecodeBatchedInitialize,                                                                     \
    (nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, int batch_size, int max_cpu_threads,                        \
     nvjpegOutputFormat_t output_format))                                                                              \
  X(nvjpegStatus_t, nvjpegDecodeBatched,                                                                               \
    (nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, const unsigned char* const* data, const size_t* lengths,    \
     nvjpegImage_t* destinations, cudaStream_t stream))                                                                \
  X(nvjpegStatus_t, nvjpegJpegStreamCreate, (nvjpegHandle_t handle, nvjpegJpegStream_t * jpeg_stream))                 \
  X(nvjpegStatus_t, nvjpegJpegStreamDestroy, (nvjpegJpegStream_t jpeg_stream))                                         \
  X(nvjpegStatus_t, nvjpegJpegStreamParse,                                                                             \
    (nvjpegHandle_t handle, const unsigned char* data, size_t length, int save_metadata, int save_stream,              \
     nvjpegJpegStream_t jpeg_stream))                                                                                  \
  X(nvjpegStatus_t, nvjpegJpegStreamParseHeader,                                                                       \
    (nvjpegHandle_t handle, const unsigned char* data, size_t length, nvjpegJpegStream_t jpeg_stream))                 \
  X(nvjpegStatus_t, nvjpegDecodeBatchedSupported,                                                                      \
    (nvjpegHandle_t handle, nvjpegJpegStream_t jpeg_stream, int* is_supported))                                        \
  X(nvjpegStatus_t, nvjpegDecoderCreate,                                                                               \
    (nvjpegHandle_t nvjpeg_handle, nvjpegBackend_t implementation, nvjpegJpegDecoder_t * decoder_handle))              \
  X(nvjpegStatus_t, nvjpegDecoderDestroy, (nvjpegJpegDecoder_t decoder_handle))                                        \
  X(nvjpegStatus_t, nvjpegDecoderStateCreate,                                                                          \
    (nvjpegHandle_t nvjpeg_handle, nvjpegJpegDecoder_t decoder_handle, nvjpegJpegState_t * decoder_state))             \
  X(nvjpegStatus_t, nvjpegBufferPinnedCreate,                                                                          \
    (nvjpegHandle_t handle, nvjpegPinnedAllocator_t * pinned_allocator, nvjpegBufferPinned_t * buffer))                \
  X(nvjpegStatus_t, nvjpegBufferPinnedDestroy, (nvjpegBufferPinned_t buffer))                                          \
  X(nvjpegStatus_t, nvjpegBufferDeviceCreate,                                                                          \
    (nvjpegHandle_t handle, nvjpegDevAllocator_t * device_allocator, nvjpegBufferDevice_t * buffer))                   \
  X(nvjpegStatus_t, nvjpegBufferDeviceDestroy, (nvjpegBufferDevice_t buffer))                                          \
  X(nvjpegStatus_t, nvjpegStateAttachPinnedBuffer,                                                                     \
    (nvjpegJpegState_t decoder_state, nvjpegBufferPinned_t pinned_buffer))                                             \
  X(nvjpegStatus_t, nvjpegStateAttachDeviceBuffer,                                                                     \
    (nvjpegJpegState_t decoder_state, nvjpegBufferDevice_t device_buffer))                                             \
  X(nvjpegStatus_t, nvjpegDecodeParamsCreate, (nvjpegHandle_t handle, nvjpegDecodeParams_t * decode_params))           \
  X(nvjpegStatus_t, nvjpegDecodeParamsDestroy, (nvjpegDecodeParams_t decode_params))                                   \
  X(nvjpegStatus_t, nvjpegDecodeParamsSetOutputFormat,                                                                 \
    (nvjpegDecodeParams_t decode_params, nvjpegOutputFormat_t output_format))                                          \
  X(nvjpegStatus_t, nvjpegDecodeJpegHost,                                                                              \
    (nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state,                              \
     nvjpegDecodeParams_t decode_params, nvjpegJpegStream_t jpeg_stream))                                              \
  X(nvjpegStatus_t, nvjpegDecodeJpegTransferToDevice,                                                                  \
    (nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state,                              \
     nvjpegJpegStream_t jpeg_stream, cudaStream_t stream))                                                             \
  X(nvjpegStatus_t, nvjpegDecodeJpegDevice,                                                                            \
    (nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state, nvjpegImage_t * destination, \
     cudaStream_t stream))

/// PFN_nvjpegCreateEx, …: the pointer type of each function.
#define RESNET_NVJPEG_POINTER_TYPE(ret, name, params) using PFN_##name = ret(*) params;
RESNET_NVJPEG_FUNCTIONS(RESNET_NVJPEG_POINTER_TYPE)
#undef RESNET_NVJPEG_POINTER_TYPE

/// The number of functions in RESNET_NVJPEG_FUNCTIONS.
#define RESNET_NVJPEG_COUNT_ONE(ret, name, params) +1
constexpr int kFunctionCount = 0 RESNET_NVJPEG_FUNCTIONS(RESNET_NVJPEG_COUNT_ONE);
#undef RESNET_NVJPEG_COUNT_ONE

}  // namespace nvjpeg

namespace cuda {

/// The loaded nvJPEG: one pointer per function, named like the function (`api.nvjpegCreateEx(…)`). The loader
/// fills every member or fails, so an NvjpegApi it hands out has no null member.
struct NvjpegApi {
#define RESNET_NVJPEG_API_MEMBER(ret, name, params) nvjpeg::PFN_##name name = nullptr;
  RESNET_NVJPEG_FUNCTIONS(RESNET_NVJPEG_API_MEMBER)
#undef RESNET_NVJPEG_API_MEMBER
};

}  // namespace cuda
}  // namespace resnet
