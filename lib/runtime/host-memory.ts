/**
 * Host memory that runs read in place. An ordinary array given to {@link Executable.run} is copied into the
 * executable's staging memory before `run` returns (so the caller may reuse it at once); memory the engine
 * handed out ({@link allocateHostMemory}, behind `Executable.allocateInput` and `Module.allocateInput`) or
 * that was registered with it ({@link registerHostMemory}: a server's staging arena, a shared-memory
 * region) is read where it is instead — on a GPU by DMA straight from page-locked memory — and kept alive
 * until the run has finished. The caller must not write such memory while a run that reads it is in flight
 * (onnxruntime's IOBinding and TensorRT's bindings ask the same), nor transfer its ArrayBuffer to another
 * thread (`postMessage`'s transfer list) while it is registered or read: a transfer detaches the buffer
 * here, and the memory would go with the receiver. SharedArrayBuffers cannot be transferred, which makes
 * them the safe choice for memory shared with worker threads.
 * @module
 */
import { fromNative, invalidArgument } from '../errors.js';
import { loadNative, type BackendName, type InputDType, type NativeHostRegistration } from './native.js';

/** Where host memory is meant to be read: the backend and, for `cuda`, the device ordinal (default 0). */
export interface HostMemoryTarget {
  readonly backend: BackendName;
  readonly device?: number;
}

function checkTarget(target: HostMemoryTarget): { backend: BackendName; device: number } {
  if (typeof target !== 'object' || target === null) throw invalidArgument('an object { backend, device? }', 'target', target);
  if (target.backend !== 'cpu' && target.backend !== 'cuda') throw invalidArgument('"cpu" or "cuda"', 'target.backend', target.backend);
  const device = target.device ?? 0;
  if (!Number.isSafeInteger(device) || device < 0 || device > 1023) throw invalidArgument('an integer between 0 and 1023', 'target.device', device);
  return { backend: target.backend, device };
}

/**
 * `bytes` of host memory that runs of `target`'s backend read in place: page-locked (pinned) on `cuda`,
 * 64-byte aligned on `cpu`. Freed when the buffer is garbage-collected.
 * @throws InvalidArgumentError for a size outside 1 byte .. 64 GiB; OutOfMemoryError; for `cuda` the
 *   BackendUnavailableError family (NoGpuError, …) when no GPU can be used.
 */
export function allocateHostMemory(bytes: number, target: HostMemoryTarget): ArrayBuffer {
  const { backend, device } = checkTarget(target);
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 2 ** 36) throw invalidArgument('a byte count from 1 to 2^36', 'bytes', bytes);
  try {
    return loadNative().allocateHostMemory(backend, device, bytes);
  } catch (error) {
    throw fromNative(error);
  }
}

/** The typed array that holds each input dtype (float16: its bits in a Uint16Array). */
export interface InputArrays {
  float32: Float32Array;
  float16: Uint16Array;
  uint8: Uint8Array;
}

const inputArrayTypes = { float32: Float32Array, float16: Uint16Array, uint8: Uint8Array } as const;

/** Bytes of one element of each input dtype. */
export const inputElementBytes: Readonly<Record<InputDType, number>> = Object.freeze({ float32: 4, float16: 2, uint8: 1 });

/**
 * A zeroed typed array of `elements` input elements of `dtype` in memory that runs of `target` read in
 * place ({@link allocateHostMemory}).
 * @throws InvalidArgumentError for an unknown dtype; as {@link allocateHostMemory} otherwise.
 */
export function allocateInputArray<D extends InputDType>(elements: number, dtype: D, target: HostMemoryTarget, name = 'dtype'): InputArrays[D] {
  if (!Object.hasOwn(inputArrayTypes, dtype)) throw invalidArgument('"float32", "float16" or "uint8"', name, dtype);
  const ArrayType = inputArrayTypes[dtype] as unknown as new (buffer: ArrayBuffer) => InputArrays[D];
  return new ArrayType(allocateHostMemory(elements * inputElementBytes[dtype], target));
}

/** Memory lent to runs by {@link registerHostMemory}; {@link HostMemoryRegistration.dispose} ends the loan. */
export class HostMemoryRegistration implements Disposable {
  #native: NativeHostRegistration | null;
  /** Page-locked for DMA (on `cuda`, when the driver agreed). */
  readonly pinned: boolean;
  /** Why it is not pinned, where that is worth saying; '' otherwise. */
  readonly note: string;
  /** Bytes registered. */
  readonly bytes: number;

  /** @internal Made by {@link registerHostMemory}. */
  constructor(native: NativeHostRegistration) {
    this.#native = native;
    this.pinned = native.pinned;
    this.note = native.note;
    this.bytes = native.bytes;
  }

  /**
   * Ends the loan: later runs copy this memory like any array. Runs already started still read it in place,
   * and keep it alive (and pinned) until they finish. Idempotent.
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Lends the memory under `memory` (an ArrayBuffer- or SharedArrayBuffer-backed typed array) to runs of
 * `target`'s backend: runs whose input lies inside it read it in place, and on `cuda` it is page-locked
 * (`cudaHostRegister`) so that the GPU reads it by DMA. The registration keeps the memory alive until
 * disposed. Ranges may not overlap an earlier registration.
 * @throws InvalidArgumentError for an empty or overlapping range; the BackendUnavailableError family for
 *   `cuda` without a usable GPU.
 */
export function registerHostMemory(memory: ArrayBufferView, target: HostMemoryTarget): HostMemoryRegistration {
  const { backend, device } = checkTarget(target);
  if (!ArrayBuffer.isView(memory) || memory instanceof DataView) throw invalidArgument('a typed array', 'memory', memory);
  try {
    return new HostMemoryRegistration(loadNative().registerHostMemory(backend, device, memory));
  } catch (error) {
    throw fromNative(error);
  }
}
