// The nvJPEG header cross-check (native/src/cuda/nvjpeg_header_check.cc) proves nvjpeg_api.h against a real
// nvjpeg.h where one is installed; no build machine here has one. So this test writes a stand-in nvjpeg.h (with
// the library_types.h and cudaStream_t it relies on), spelled the way nvJPEG's C header spells its own (typedef'd
// anonymous enums and structs, extern "C"), with the values and signatures of NVIDIA's nvJPEG documentation
// written out below — not taken from our header — and compiles the check against it: it must pass, and it must
// fail, naming the item, when one value, signature, field or the version differs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const checkSource = path.join(root, 'native', 'src', 'cuda', 'nvjpeg_header_check.cc');
const hasGxx = spawnSync('g++', ['--version']).status === 0;

type Enumerators = ReadonlyArray<readonly [string, number]>;
const enums: ReadonlyArray<readonly [string, Enumerators]> = [
  ['nvjpegStatus_t', [['NVJPEG_STATUS_SUCCESS', 0], ['NVJPEG_STATUS_NOT_INITIALIZED', 1], ['NVJPEG_STATUS_INVALID_PARAMETER', 2], ['NVJPEG_STATUS_BAD_JPEG', 3], ['NVJPEG_STATUS_JPEG_NOT_SUPPORTED', 4], ['NVJPEG_STATUS_ALLOCATOR_FAILURE', 5], ['NVJPEG_STATUS_EXECUTION_FAILED', 6], ['NVJPEG_STATUS_ARCH_MISMATCH', 7], ['NVJPEG_STATUS_INTERNAL_ERROR', 8], ['NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED', 9], ['NVJPEG_STATUS_INCOMPLETE_BITSTREAM', 10]]],
  ['nvjpegChromaSubsampling_t', [['NVJPEG_CSS_444', 0], ['NVJPEG_CSS_422', 1], ['NVJPEG_CSS_420', 2], ['NVJPEG_CSS_440', 3], ['NVJPEG_CSS_411', 4], ['NVJPEG_CSS_410', 5], ['NVJPEG_CSS_GRAY', 6], ['NVJPEG_CSS_410V', 7], ['NVJPEG_CSS_UNKNOWN', -1]]],
  ['nvjpegOutputFormat_t', [['NVJPEG_OUTPUT_UNCHANGED', 0], ['NVJPEG_OUTPUT_YUV', 1], ['NVJPEG_OUTPUT_Y', 2], ['NVJPEG_OUTPUT_RGB', 3], ['NVJPEG_OUTPUT_BGR', 4], ['NVJPEG_OUTPUT_RGBI', 5], ['NVJPEG_OUTPUT_BGRI', 6], ['NVJPEG_OUTPUT_UNCHANGEDI_U16', 7], ['NVJPEG_OUTPUT_FORMAT_MAX', 7]]],
  ['nvjpegBackend_t', [['NVJPEG_BACKEND_DEFAULT', 0], ['NVJPEG_BACKEND_HYBRID', 1], ['NVJPEG_BACKEND_GPU_HYBRID', 2], ['NVJPEG_BACKEND_HARDWARE', 3], ['NVJPEG_BACKEND_GPU_HYBRID_DEVICE', 4], ['NVJPEG_BACKEND_HARDWARE_DEVICE', 5], ['NVJPEG_BACKEND_LOSSLESS_JPEG', 6]]],
];

/** The declarations of the functions the decoder calls, as nvJPEG's documentation gives them. */
const functions = `nvjpegStatus_t nvjpegGetProperty(libraryPropertyType type, int *value);
nvjpegStatus_t nvjpegCreateEx(nvjpegBackend_t backend, nvjpegDevAllocator_t *dev_allocator, nvjpegPinnedAllocator_t *pinned_allocator, unsigned int flags, nvjpegHandle_t *handle);
nvjpegStatus_t nvjpegDestroy(nvjpegHandle_t handle);
nvjpegStatus_t nvjpegGetHardwareDecoderInfo(nvjpegHandle_t handle, unsigned int* num_engines, unsigned int* num_cores_per_engine);
nvjpegStatus_t nvjpegJpegStateCreate(nvjpegHandle_t handle, nvjpegJpegState_t *jpeg_handle);
nvjpegStatus_t nvjpegJpegStateDestroy(nvjpegJpegState_t jpeg_handle);
nvjpegStatus_t nvjpegGetImageInfo(nvjpegHandle_t handle, const unsigned char *data, size_t length, int *nComponents, nvjpegChromaSubsampling_t *subsampling, int *widths, int *heights);
nvjpegStatus_t nvjpegDecodeBatchedInitialize(nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, int batch_size, int max_cpu_threads, nvjpegOutputFormat_t output_format);
nvjpegStatus_t nvjpegDecodeBatched(nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, const unsigned char *const *data, const size_t *lengths, nvjpegImage_t *destinations, cudaStream_t stream);
nvjpegStatus_t nvjpegJpegStreamCreate(nvjpegHandle_t handle, nvjpegJpegStream_t *jpeg_stream);
nvjpegStatus_t nvjpegJpegStreamDestroy(nvjpegJpegStream_t jpeg_stream);
nvjpegStatus_t nvjpegJpegStreamParse(nvjpegHandle_t handle, const unsigned char *data, size_t length, int save_metadata, int save_stream, nvjpegJpegStream_t jpeg_stream);
nvjpegStatus_t nvjpegJpegStreamParseHeader(nvjpegHandle_t handle, const unsigned char *data, size_t length, nvjpegJpegStream_t jpeg_stream);
nvjpegStatus_t nvjpegDecodeBatchedSupported(nvjpegHandle_t handle, nvjpegJpegStream_t jpeg_stream, int* is_supported);
nvjpegStatus_t nvjpegDecoderCreate(nvjpegHandle_t nvjpeg_handle, nvjpegBackend_t implementation, nvjpegJpegDecoder_t* decoder_handle);
nvjpegStatus_t nvjpegDecoderDestroy(nvjpegJpegDecoder_t decoder_handle);
nvjpegStatus_t nvjpegDecoderStateCreate(nvjpegHandle_t nvjpeg_handle, nvjpegJpegDecoder_t decoder_handle, nvjpegJpegState_t* decoder_state);
nvjpegStatus_t nvjpegBufferPinnedCreate(nvjpegHandle_t handle, nvjpegPinnedAllocator_t* pinned_allocator, nvjpegBufferPinned_t* buffer);
nvjpegStatus_t nvjpegBufferPinnedDestroy(nvjpegBufferPinned_t buffer);
nvjpegStatus_t nvjpegBufferDeviceCreate(nvjpegHandle_t handle, nvjpegDevAllocator_t* device_allocator, nvjpegBufferDevice_t* buffer);
nvjpegStatus_t nvjpegBufferDeviceDestroy(nvjpegBufferDevice_t buffer);
nvjpegStatus_t nvjpegStateAttachPinnedBuffer(nvjpegJpegState_t decoder_state, nvjpegBufferPinned_t pinned_buffer);
nvjpegStatus_t nvjpegStateAttachDeviceBuffer(nvjpegJpegState_t decoder_state, nvjpegBufferDevice_t device_buffer);
nvjpegStatus_t nvjpegDecodeParamsCreate(nvjpegHandle_t handle, nvjpegDecodeParams_t *decode_params);
nvjpegStatus_t nvjpegDecodeParamsDestroy(nvjpegDecodeParams_t decode_params);
nvjpegStatus_t nvjpegDecodeParamsSetOutputFormat(nvjpegDecodeParams_t decode_params, nvjpegOutputFormat_t output_format);
nvjpegStatus_t nvjpegDecodeJpegHost(nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state, nvjpegDecodeParams_t decode_params, nvjpegJpegStream_t jpeg_stream);
nvjpegStatus_t nvjpegDecodeJpegTransferToDevice(nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state, nvjpegJpegStream_t jpeg_stream, cudaStream_t stream);
nvjpegStatus_t nvjpegDecodeJpegDevice(nvjpegHandle_t handle, nvjpegJpegDecoder_t decoder, nvjpegJpegState_t decoder_state, nvjpegImage_t *destination, cudaStream_t stream);`;

/** nvjpeg.h of a made-up nvJPEG `major`.0.1, unless `edit` changes it. */
function fakeHeader(major: number, edit: (header: string) => string = (h) => h): string {
  const enumText = enums.map(([type, values]) => `typedef enum {\n${values.map(([name, value]) => `    ${name} = ${value},`).join('\n')}\n} ${type};`).join('\n\n');
  return edit(`/* A stand-in for nvJPEG's nvjpeg.h, written by test/nvjpeg-header-check.test.ts. */
#ifndef FAKE_NVJPEG_H_
#define FAKE_NVJPEG_H_
#include <stddef.h>
typedef struct CUstream_st *cudaStream_t;
typedef enum libraryPropertyType_t { MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL } libraryPropertyType;
#if defined(__cplusplus)
extern "C" {
#endif
#define NVJPEG_MAX_COMPONENT 4
#define NVJPEG_VER_MAJOR ${major}
#define NVJPEG_VER_MINOR 0
#define NVJPEG_VER_PATCH 1
#define NVJPEG_FLAGS_DEFAULT 0
${enumText}
typedef struct {
    unsigned char * channel[NVJPEG_MAX_COMPONENT];
    size_t    pitch[NVJPEG_MAX_COMPONENT];
} nvjpegImage_t;
typedef int (*tDevMalloc)(void**, size_t);
typedef int (*tDevFree)(void*);
typedef int (*tPinnedMalloc)(void**, size_t, unsigned int flags);
typedef int (*tPinnedFree)(void*);
typedef struct { tDevMalloc dev_malloc; tDevFree dev_free; } nvjpegDevAllocator_t;
typedef struct { tPinnedMalloc pinned_malloc; tPinnedFree pinned_free; } nvjpegPinnedAllocator_t;
struct nvjpegHandle;
typedef struct nvjpegHandle* nvjpegHandle_t;
struct nvjpegJpegState;
typedef struct nvjpegJpegState* nvjpegJpegState_t;
struct nvjpegBufferPinned;
typedef struct nvjpegBufferPinned* nvjpegBufferPinned_t;
struct nvjpegBufferDevice;
typedef struct nvjpegBufferDevice* nvjpegBufferDevice_t;
struct nvjpegJpegStream;
typedef struct nvjpegJpegStream* nvjpegJpegStream_t;
struct nvjpegDecodeParams;
typedef struct nvjpegDecodeParams* nvjpegDecodeParams_t;
struct nvjpegJpegDecoder;
typedef struct nvjpegJpegDecoder* nvjpegJpegDecoder_t;
${functions}
#if defined(__cplusplus)
}
#endif
#endif
`);
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'resnet-nvjpeg-header-check-'));
let fakes = 0;
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function compileCheck(major: number, edit?: (header: string) => string): { ok: boolean; errors: string } {
  const folder = path.join(scratch, `fake-${fakes++}`);
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'nvjpeg.h'), fakeHeader(major, edit));
  const run = spawnSync('g++', ['-std=c++17', '-fsyntax-only', '-I', folder, '-I', path.join(root, 'native', 'src'), checkSource], { encoding: 'utf8' });
  return { ok: run.status === 0, errors: run.stderr };
}

function replaceOnce(header: string, from: string, to: string): string {
  expect(header.split(from).length - 1, `"${from}" occurs once in the fake header`).toBe(1);
  return header.replace(from, to);
}

describe.runIf(hasGxx)('nvJPEG header check against a stand-in nvjpeg.h', () => {
  it('passes when the header matches nvjpeg_api.h, for nvJPEG 12 and 13', () => {
    expect(compileCheck(13)).toEqual({ ok: true, errors: '' });
    expect(compileCheck(12)).toEqual({ ok: true, errors: '' });
  });

  it('fails, naming it, when an enum value differs', () => {
    const result = compileCheck(13, (h) => replaceOnce(h, 'NVJPEG_OUTPUT_RGBI = 5,', 'NVJPEG_OUTPUT_RGBI = 6,'));
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('nvjpeg_api.h: NVJPEG_OUTPUT_RGBI has another value than in nvjpeg.h');
    expect(result.errors).not.toContain('NVJPEG_OUTPUT_RGB has another value');
  });

  it('fails, naming it, when a backend value differs', () => {
    const result = compileCheck(13, (h) => replaceOnce(h, 'NVJPEG_BACKEND_HARDWARE = 3,', 'NVJPEG_BACKEND_HARDWARE = 4,'));
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('nvjpeg_api.h: NVJPEG_BACKEND_HARDWARE has another value than in nvjpeg.h');
  });

  it('fails, naming it, when a signature differs', () => {
    const result = compileCheck(13, (h) => replaceOnce(h, 'nvjpegDecodeBatched(nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, const unsigned char *const *data, const size_t *lengths,', 'nvjpegDecodeBatched(nvjpegHandle_t handle, nvjpegJpegState_t jpeg_handle, const unsigned char *const *data, const int *lengths,'));
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('nvjpeg_api.h: nvjpegDecodeBatched has another signature than in nvjpeg.h');
    expect(result.errors).not.toContain('nvjpegDecodeBatchedInitialize has another signature');
  });

  it('fails, naming it, when the image descriptor differs', () => {
    const result = compileCheck(13, (h) => replaceOnce(h, '    size_t    pitch[NVJPEG_MAX_COMPONENT];', '    unsigned int pitch[NVJPEG_MAX_COMPONENT];'));
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('nvjpeg_api.h: nvjpegImage_t has another size than in nvjpeg.h');
    expect(result.errors).toContain('nvjpeg_api.h: nvjpegImage_t::pitch has another type than in nvjpeg.h');
  });

  it('fails when an enumerator belongs to another enum', () => {
    const result = compileCheck(13, (h) => replaceOnce(replaceOnce(h, '    NVJPEG_CSS_GRAY = 6,\n', ''), '    NVJPEG_OUTPUT_BGRI = 6,', '    NVJPEG_OUTPUT_BGRI = 6,\n    NVJPEG_CSS_GRAY = 6,'));
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('nvjpeg_api.h: NVJPEG_CSS_GRAY belongs to another enum than in nvjpeg.h');
  });

  it('refuses a header of another major version', () => {
    const result = compileCheck(11);
    expect(result.ok).toBe(false);
    expect(result.errors).toContain('this nvjpeg.h is not nvJPEG 12.x or 13.x');
  });
});

describe.skipIf(hasGxx)('nvJPEG header check', () => {
  it.skip('needs g++ on PATH to compile the check against a stand-in nvjpeg.h', () => {});
});
