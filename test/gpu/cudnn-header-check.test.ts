// The cuDNN header cross-check (native/src/cuda/cudnn_header_check.cc) proves cudnn_api.h against real cuDNN
// headers where they are installed; no build machine here has them. So this test writes a stand-in cudnn.h,
// spelled the way cuDNN 9 spells its own (C typedefs, extern "C", const-qualified parameters), with the values
// and signatures of ../shared/reference/cudnn.md §2.e — not taken from our header — and compiles the check
// against it: it must pass, and it must fail, naming the item, when one value, signature, field or version
// differs. That is what shows that the check bites.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const checkSource = path.join(root, 'native', 'src', 'cuda', 'cudnn_header_check.cc');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

// ---- cuDNN 9's values (reference/cudnn.md §2.e; cuDNN 9.6 headers, later codes from the 9.x that added them) ----
type Enumerators = ReadonlyArray<readonly [string, number]>;

const status: Enumerators = [
  ['CUDNN_STATUS_SUCCESS', 0],
  ['CUDNN_STATUS_NOT_INITIALIZED', 1001],
  ['CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH', 1002],
  ['CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH', 1003],
  ['CUDNN_STATUS_DEPRECATED', 1004],
  ['CUDNN_STATUS_LICENSE_ERROR', 1005],
  ['CUDNN_STATUS_RUNTIME_IN_PROGRESS', 1006],
  ['CUDNN_STATUS_RUNTIME_FP_OVERFLOW', 1007],
  ['CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED', 1008],
  ['CUDNN_STATUS_BAD_PARAM', 2000],
  ['CUDNN_STATUS_BAD_PARAM_NULL_POINTER', 2002],
  ['CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER', 2003],
  ['CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED', 2004],
  ['CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND', 2005],
  ['CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT', 2006],
  ['CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH', 2007],
  ['CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH', 2008],
  ['CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES', 2009],
  ['CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE', 2010],
  ['CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH', 2011],
  ['CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE', 2012],
  ['CUDNN_STATUS_NOT_SUPPORTED', 3000],
  ['CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN', 3001],
  ['CUDNN_STATUS_NOT_SUPPORTED_SHAPE', 3002],
  ['CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE', 3003],
  ['CUDNN_STATUS_NOT_SUPPORTED_LAYOUT', 3004],
  ['CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER', 3005],
  ['CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART', 3006],
  ['CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH', 3007],
  ['CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING', 3008],
  ['CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE', 3009],
  ['CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT', 3010],
  ['CUDNN_STATUS_NOT_SUPPORTED_PADDING', 3011],
  ['CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM', 3012],
  ['CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API', 3013],
  ['CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE', 3014],
  ['CUDNN_STATUS_INTERNAL_ERROR', 4000],
  ['CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED', 4001],
  ['CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE', 4002],
  ['CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED', 4003],
  ['CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED', 4004],
  ['CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM', 4005],
  ['CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED', 4006],
  ['CUDNN_STATUS_EXECUTION_FAILED', 5000],
  ['CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER', 5001],
  ['CUDNN_STATUS_EXECUTION_FAILED_CUBLAS', 5002],
  ['CUDNN_STATUS_EXECUTION_FAILED_CUDART', 5003],
  ['CUDNN_STATUS_EXECUTION_FAILED_CURAND', 5004],
  ['CUDNN_STATUS_ALLOC_FAILED', 4003],
  ['CUDNN_STATUS_INVALID_VALUE', 2001],
  ['CUDNN_STATUS_ARCH_MISMATCH', 3007],
  ['CUDNN_STATUS_MAPPING_ERROR', 4006],
  ['CUDNN_STATUS_RUNTIME_PREREQUISITE_MISSING', 3008],
  ['CUDNN_STATUS_VERSION_MISMATCH', 1002],
];
/** Status codes newer than cuDNN 9.0, with the release that added each: older headers lack them. */
const statusSince: Readonly<Record<string, number>> = {
  CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED: 90200,
  CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH: 90500,
  CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API: 90500,
  CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE: 90600,
  CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE: 91800,
};

const enums: ReadonlyArray<readonly [string, Enumerators]> = [
  ['cudnnStatus_t', status],
  [
    'cudnnDataType_t',
    ['FLOAT', 'DOUBLE', 'HALF', 'INT8', 'INT32', 'INT8x4', 'UINT8', 'UINT8x4', 'INT8x32', 'BFLOAT16', 'INT64', 'BOOLEAN', 'FP8_E4M3', 'FP8_E5M2', 'FAST_FLOAT_FOR_FP8'].map((name, i) => [`CUDNN_DATA_${name}`, i] as const),
  ],
  ['cudnnMathType_t', [['CUDNN_DEFAULT_MATH', 0], ['CUDNN_TENSOR_OP_MATH', 1], ['CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION', 2], ['CUDNN_FMA_MATH', 3]]],
  ['cudnnNanPropagation_t', [['CUDNN_NOT_PROPAGATE_NAN', 0], ['CUDNN_PROPAGATE_NAN', 1]]],
  ['cudnnTensorFormat_t', [['CUDNN_TENSOR_NCHW', 0], ['CUDNN_TENSOR_NHWC', 1], ['CUDNN_TENSOR_NCHW_VECT_C', 2]]],
  ['cudnnActivationMode_t', ['SIGMOID', 'RELU', 'TANH', 'CLIPPED_RELU', 'ELU', 'IDENTITY', 'SWISH'].map((name, i) => [`CUDNN_ACTIVATION_${name}`, i] as const)],
  ['cudnnConvolutionMode_t', [['CUDNN_CONVOLUTION', 0], ['CUDNN_CROSS_CORRELATION', 1]]],
  ['cudnnDeterminism_t', [['CUDNN_NON_DETERMINISTIC', 0], ['CUDNN_DETERMINISTIC', 1]]],
  // The graph (backend) API's enums, as cuDNN 9.6's cudnn_graph.h numbers them (reference/cudnn.md §2.b): more
  // enumerators than cudnn_api.h declares, as in the real header.
  [
    'cudnnBackendDescriptorType_t',
    ['POINTWISE', 'CONVOLUTION', 'ENGINE', 'ENGINECFG', 'ENGINEHEUR', 'EXECUTION_PLAN', 'INTERMEDIATE_INFO', 'KNOB_CHOICE', 'KNOB_INFO', 'LAYOUT_INFO', 'OPERATION_CONVOLUTION_FORWARD', 'OPERATION_CONVOLUTION_BACKWARD_FILTER', 'OPERATION_CONVOLUTION_BACKWARD_DATA', 'OPERATION_POINTWISE', 'OPERATION_GEN_STATS', 'OPERATIONGRAPH', 'VARIANT_PACK', 'TENSOR', 'MATMUL'].map((name, i) => [`CUDNN_BACKEND_${name}_DESCRIPTOR`, i] as const),
  ],
  [
    'cudnnBackendAttributeName_t',
    [
      ['CUDNN_ATTR_POINTWISE_MODE', 0], ['CUDNN_ATTR_POINTWISE_MATH_PREC', 1], ['CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP', 3],
      ['CUDNN_ATTR_CONVOLUTION_COMP_TYPE', 100], ['CUDNN_ATTR_CONVOLUTION_CONV_MODE', 101], ['CUDNN_ATTR_CONVOLUTION_DILATIONS', 102],
      ['CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES', 103], ['CUDNN_ATTR_CONVOLUTION_POST_PADDINGS', 104], ['CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS', 105],
      ['CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS', 106], ['CUDNN_ATTR_ENGINEHEUR_MODE', 200], ['CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH', 201],
      ['CUDNN_ATTR_ENGINEHEUR_RESULTS', 202], ['CUDNN_ATTR_ENGINECFG_ENGINE', 300], ['CUDNN_ATTR_ENGINECFG_KNOB_CHOICES', 302],
      ['CUDNN_ATTR_EXECUTION_PLAN_HANDLE', 400], ['CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG', 401], ['CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE', 402],
      ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA', 700], ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA', 701],
      ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC', 702], ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W', 703],
      ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X', 704], ['CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y', 705],
      ['CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR', 750], ['CUDNN_ATTR_OPERATION_POINTWISE_XDESC', 751],
      ['CUDNN_ATTR_OPERATION_POINTWISE_BDESC', 752], ['CUDNN_ATTR_OPERATION_POINTWISE_YDESC', 753],
      ['CUDNN_ATTR_OPERATIONGRAPH_HANDLE', 800], ['CUDNN_ATTR_OPERATIONGRAPH_OPS', 801], ['CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT', 900],
      ['CUDNN_ATTR_TENSOR_DATA_TYPE', 901], ['CUDNN_ATTR_TENSOR_DIMENSIONS', 902], ['CUDNN_ATTR_TENSOR_STRIDES', 903],
      ['CUDNN_ATTR_TENSOR_UNIQUE_ID', 906], ['CUDNN_ATTR_TENSOR_IS_VIRTUAL', 907], ['CUDNN_ATTR_TENSOR_IS_BY_VALUE', 908],
      ['CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS', 1000], ['CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS', 1001], ['CUDNN_ATTR_VARIANT_PACK_WORKSPACE', 1003],
      ['CUDNN_ATTR_ENGINE_GLOBAL_INDEX', 1301], ['CUDNN_ATTR_ENGINE_NUMERICAL_NOTE', 1303], ['CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE', 1305],
      ['CUDNN_ATTR_KERNEL_CACHE_IS_ENGINECFG_KERNEL_CACHED', 2401],
    ],
  ],
  [
    'cudnnBackendAttributeType_t',
    ['HANDLE', 'DATA_TYPE', 'BOOLEAN', 'INT64', 'FLOAT', 'DOUBLE', 'VOID_PTR', 'CONVOLUTION_MODE', 'HEUR_MODE', 'KNOB_TYPE', 'NAN_PROPOGATION', 'NUMERICAL_NOTE', 'LAYOUT_TYPE', 'ATTRIB_NAME', 'POINTWISE_MODE', 'BACKEND_DESCRIPTOR', 'GENSTATS_MODE', 'BN_FINALIZE_STATS_MODE', 'REDUCTION_OPERATOR_TYPE', 'BEHAVIOR_NOTE'].map((name, i) => [`CUDNN_TYPE_${name}`, i] as const),
  ],
  ['cudnnPointwiseMode_t', [['CUDNN_POINTWISE_ADD', 0], ['CUDNN_POINTWISE_MUL', 1], ['CUDNN_POINTWISE_SQRT', 4], ['CUDNN_POINTWISE_IDENTITY', 21], ['CUDNN_POINTWISE_RELU_FWD', 100], ['CUDNN_POINTWISE_RELU_BWD', 200]]],
  ['cudnnBackendHeurMode_t', [['CUDNN_HEUR_MODE_INSTANT', 0], ['CUDNN_HEUR_MODE_B', 1], ['CUDNN_HEUR_MODE_FALLBACK', 2], ['CUDNN_HEUR_MODE_A', 3], ['CUDNN_HEUR_MODES_COUNT', 4]]],
  [
    'cudnnBackendNumericalNote_t',
    ['TENSOR_CORE', 'DOWN_CONVERT_INPUTS', 'REDUCED_PRECISION_REDUCTION', 'FFT', 'NONDETERMINISTIC', 'WINOGRAD', 'WINOGRAD_TILE_4x4', 'WINOGRAD_TILE_6x6', 'WINOGRAD_TILE_13x13', 'STRICT_NAN_PROP', 'TYPE_COUNT'].map((name, i) => [`CUDNN_NUMERICAL_NOTE_${name}`, i] as const),
  ],
  ['cudnnBackendBehaviorNote_t', [['CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION', 0], ['CUDNN_BEHAVIOR_NOTE_REQUIRES_FILTER_INT8x32_REORDER', 1], ['CUDNN_BEHAVIOR_NOTE_REQUIRES_BIAS_INT8x32_REORDER', 2], ['CUDNN_BEHAVIOR_NOTE_TYPE_COUNT', 3]]],
  [
    'cudnnConvolutionFwdAlgo_t',
    ['IMPLICIT_GEMM', 'IMPLICIT_PRECOMP_GEMM', 'GEMM', 'DIRECT', 'FFT', 'FFT_TILING', 'WINOGRAD', 'WINOGRAD_NONFUSED', 'COUNT'].map((name, i) => [`CUDNN_CONVOLUTION_FWD_ALGO_${name}`, i] as const),
  ],
];

const perfStruct = `typedef struct cudnnConvolutionFwdAlgoPerfStruct {
    cudnnConvolutionFwdAlgo_t algo;
    cudnnStatus_t status;
    float time;
    size_t memory;
    cudnnDeterminism_t determinism;
    cudnnMathType_t mathType;
    int reserved[3];
} cudnnConvolutionFwdAlgoPerf_t;`;

/** The declarations as cuDNN writes them (top-level const on handle parameters included). */
const functions = `size_t cudnnGetVersion(void);
size_t cudnnGetCudartVersion(void);
const char *cudnnGetErrorString(cudnnStatus_t status);
void cudnnGetLastErrorString(char *message, size_t max_size);
cudnnStatus_t cudnnCreate(cudnnHandle_t *handle);
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle);
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId);
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc);
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format, cudnnDataType_t dataType, int n, int c, int h, int w);
cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t tensorDesc, cudnnDataType_t dataType, int n, int c, int h, int w, int nStride, int cStride, int hStride, int wStride);
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc);
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *filterDesc);
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType, cudnnTensorFormat_t format, int k, int c, int h, int w);
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc);
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *convDesc);
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w, cudnnConvolutionMode_t mode, cudnnDataType_t computeType);
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t convDesc, int groupCount);
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType);
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc);
cudnnStatus_t cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t *activationDesc);
cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t activationDesc, cudnnActivationMode_t mode, cudnnNanPropagation_t reluNanOpt, double coef);
cudnnStatus_t cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t activationDesc);
cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t handle, int *count);
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc, const cudnnFilterDescriptor_t filterDesc, const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount, int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults);
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnFilterDescriptor_t wDesc, const void *w, const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc, void *y, const int requestedAlgoCount, int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults, void *workSpace, size_t workSpaceSizeInBytes);
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc, const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdAlgo_t algo, size_t *sizeInBytes);
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void *alpha, const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnFilterDescriptor_t wDesc, const void *w, const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo, void *workSpace, size_t workSpaceSizeInBytes, const void *beta, const cudnnTensorDescriptor_t yDesc, void *y);
cudnnStatus_t cudnnConvolutionBiasActivationForward(cudnnHandle_t handle, const void *alpha1, const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnFilterDescriptor_t wDesc, const void *w, const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo, void *workSpace, size_t workSpaceSizeInBytes, const void *alpha2, const cudnnTensorDescriptor_t zDesc, const void *z, const cudnnTensorDescriptor_t biasDesc, const void *bias, const cudnnActivationDescriptor_t activationDesc, const cudnnTensorDescriptor_t yDesc, void *y);
cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void *alpha, const cudnnTensorDescriptor_t aDesc, const void *A, const void *beta, const cudnnTensorDescriptor_t cDesc, void *C);
cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t descriptorType, cudnnBackendDescriptor_t *descriptor);
cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor);
cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor);
cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t attributeName, cudnnBackendAttributeType_t attributeType, int64_t elementCount, const void *arrayOfElements);
cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor, cudnnBackendAttributeName_t attributeName, cudnnBackendAttributeType_t attributeType, int64_t requestedElementCount, int64_t *elementCount, void *arrayOfElements);
cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle, cudnnBackendDescriptor_t executionPlan, cudnnBackendDescriptor_t variantPack);`;

interface FakeOptions {
  /** cuDNN version as CUDNN_VERSION spells it (major·10000 + minor·100 + patch). */
  version?: number;
  /** Rewrites the finished header text (one deliberate mismatch). */
  edit?: (header: string) => string;
}

/** cudnn.h (with cudnn_version.h) of a made-up cuDNN: what cuDNN `version` declares, unless edited. */
function fakeHeader({ version = 90600, edit = (h) => h }: FakeOptions): { 'cudnn.h': string; 'cudnn_version.h': string } {
  const major = Math.floor(version / 10000);
  const minor = Math.floor(version / 100) % 100;
  const patch = version % 100;
  const enumText = enums
    .map(([type, values]) => {
      const present = values.filter(([name]) => (statusSince[name] ?? 0) <= version);
      return `typedef enum {\n${present.map(([name, value]) => `    ${name} = ${value},`).join('\n')}\n} ${type};`;
    })
    .join('\n\n');
  const header = `/* A stand-in for cuDNN's cudnn.h, written by test/cudnn-header-check.test.ts. */
#ifndef FAKE_CUDNN_H_
#define FAKE_CUDNN_H_
#include <stddef.h>
#include <stdint.h>
#include "cudnn_version.h"
typedef struct CUstream_st *cudaStream_t;
#if defined(__cplusplus)
extern "C" {
#endif
struct cudnnContext;
typedef struct cudnnContext *cudnnHandle_t;
typedef struct cudnnTensorStruct *cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct *cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct *cudnnConvolutionDescriptor_t;
typedef struct cudnnActivationStruct *cudnnActivationDescriptor_t;
typedef void *cudnnBackendDescriptor_t;

${enumText}

${perfStruct}

${functions}
#if defined(__cplusplus)
}
#endif
#endif
`;
  const versionHeader = `#define CUDNN_MAJOR ${major}\n#define CUDNN_MINOR ${minor}\n#define CUDNN_PATCHLEVEL ${patch}\n#define CUDNN_VERSION (CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)\n`;
  return { 'cudnn.h': edit(header), 'cudnn_version.h': versionHeader };
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'resnet-header-check-'));
let fakes = 0;
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Compiles the check against a fake header set; the compiler's status and diagnostics. */
function compileCheck(options: FakeOptions): { ok: boolean; errors: string } {
  const folder = path.join(scratch, `fake-${fakes++}`);
  mkdirSync(folder);
  for (const [name, text] of Object.entries(fakeHeader(options))) writeFileSync(path.join(folder, name), text);
  const run = spawnSync('g++', ['-std=c++17', '-fsyntax-only', '-I', folder, '-I', path.join(root, 'native', 'src'), checkSource], { encoding: 'utf8' });
  return { ok: run.status === 0, errors: run.stderr };
}

/** `header` with exactly one occurrence of `from` replaced (fails the test if `from` is not there once). */
function replaceOnce(header: string, from: string, to: string): string {
  expect(header.split(from).length - 1, `"${from}" occurs once in the fake header`).toBe(1);
  return header.replace(from, to);
}

describe.runIf(hasGxx)('cuDNN header check against a stand-in cudnn.h', () => {
  it('passes when the headers match cudnn_api.h', () => {
    const result = compileCheck({});
    expect(result.errors).toBe('');
    expect(result.ok).toBe(true);
  });

  it('passes against cuDNN 9.18 headers, which add CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE', () => {
    expect(compileCheck({ version: 91800 })).toEqual({ ok: true, errors: '' });
  });

  it('passes against cuDNN 9.0 headers, which lack the status codes added later', () => {
    const header = fakeHeader({ version: 90000 })['cudnn.h'];
    expect(header).not.toContain('CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED');
    expect(compileCheck({ version: 90000 })).toEqual({ ok: true, errors: '' });
  });

  it('fails, naming it, when an enum value differs (CUDNN_DATA_HALF = 3)', () => {
    const result = compileCheck({ edit: (h) => replaceOnce(h, 'CUDNN_DATA_HALF = 2,', 'CUDNN_DATA_HALF = 3,') });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: CUDNN_DATA_HALF has another value than in cudnn.h');
    expect(result.errors).not.toContain('CUDNN_DATA_FLOAT has another value');
  });

  it('fails, naming it, when a status code differs', () => {
    const result = compileCheck({ edit: (h) => replaceOnce(h, 'CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3002,', 'CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3003,') });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: CUDNN_STATUS_NOT_SUPPORTED_SHAPE has another value than in cudnn.h');
  });

  it('fails, naming it, when a graph API attribute differs (CUDNN_ATTR_TENSOR_IS_VIRTUAL = 908)', () => {
    const result = compileCheck({
      edit: (h) =>
        replaceOnce(
          replaceOnce(h, 'CUDNN_ATTR_TENSOR_IS_VIRTUAL = 907,', 'CUDNN_ATTR_TENSOR_IS_VIRTUAL = 908,'),
          'CUDNN_ATTR_TENSOR_IS_BY_VALUE = 908,',
          'CUDNN_ATTR_TENSOR_IS_BY_VALUE = 907,',
        ),
    });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: CUDNN_ATTR_TENSOR_IS_VIRTUAL has another value than in cudnn.h');
    expect(result.errors).not.toContain('CUDNN_ATTR_TENSOR_UNIQUE_ID has another value');
  });

  it('fails, naming it, when a graph API function differs (an int element count)', () => {
    const result = compileCheck({
      edit: (h) => replaceOnce(h, 'cudnnBackendAttributeType_t attributeType, int64_t elementCount,', 'cudnnBackendAttributeType_t attributeType, int elementCount,'),
    });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: cudnnBackendSetAttribute has another signature than in cudnn.h');
    expect(result.errors).not.toContain('cudnnBackendGetAttribute has another signature');
  });

  it('fails, naming it, when a function signature differs (the filter descriptor argument-order trap)', () => {
    const result = compileCheck({
      edit: (h) =>
        replaceOnce(
          h,
          'cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType, cudnnTensorFormat_t format,',
          'cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnTensorFormat_t format, cudnnDataType_t dataType,',
        ),
    });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: cudnnSetFilter4dDescriptor has another signature than in cudnn.h');
    expect(result.errors).not.toContain('cudnnSetTensor4dDescriptor has another signature');
  });

  it('fails, naming it, when a return type differs', () => {
    const result = compileCheck({ edit: (h) => replaceOnce(h, 'size_t cudnnGetCudartVersion(void);', 'int cudnnGetCudartVersion(void);') });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: cudnnGetCudartVersion has another signature than in cudnn.h');
  });

  it('fails, naming it, when an enum moves to another type', () => {
    // The same value, but in the enum of another type: the value check alone would not see it.
    const result = compileCheck({
      edit: (h) => replaceOnce(replaceOnce(h, '    CUDNN_DETERMINISTIC = 1,\n', ''), '    CUDNN_FMA_MATH = 3,', '    CUDNN_FMA_MATH = 3,\n    CUDNN_DETERMINISTIC = 1,'),
    });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: CUDNN_DETERMINISTIC belongs to another enum than in cudnn.h');
  });

  it('fails, naming it, when the perf struct layout differs', () => {
    const result = compileCheck({ edit: (h) => replaceOnce(h, '    size_t memory;', '    int memory;') });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t has another size than in cudnn.h');
    expect(result.errors).toContain('cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t::memory has another type than in cudnn.h');
    expect(result.errors).toContain('cudnn_api.h: cudnnConvolutionFwdAlgoPerf_t::determinism is at another offset than in cudnn.h');
  });

  it('fails when headers that should declare a newer status code lack it', () => {
    const result = compileCheck({ version: 91800, edit: (h) => replaceOnce(h, '    CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE = 3014,\n', '') });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE');
  });

  it('refuses headers of another major version', () => {
    const result = compileCheck({ version: 80907 });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('these cuDNN headers are not cuDNN 9');
  });
});

describe.skipIf(hasGxx)('cuDNN header check', () => {
  it.skip('needs g++ on PATH to compile the check against a stand-in cudnn.h', () => {});
});
