/**
 * Typed errors. Every failure the library reports is one of these classes, each with a stable
 * string `code` that callers can switch on (messages may improve; codes do not change).
 *
 * Native code creates plain `Error`s carrying a `code`; the runtime wrapper maps them onto these
 * classes (see `fromNative`), so users see one family of errors whatever layer failed.
 * @module
 */
import { describeValue } from './describe-value.js';

/** The stable error codes. */
export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_SHAPE'
  | 'ERR_INVALID_DTYPE'
  | 'ERR_STATE_DICT'
  | 'ERR_INVALID_FILE'
  | 'ERR_IMAGE_BUDGET'
  | 'ERR_DOWNLOAD'
  | 'ERR_UNSUPPORTED'
  | 'ERR_DISPOSED'
  | 'ERR_QUEUE_FULL'
  | 'ERR_NOT_TRAINABLE'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_MISSING_DEPENDENCY'
  | 'ERR_BACKEND'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_NO_GPU'
  | 'ERR_CUDNN_NOT_FOUND'
  | 'ERR_CUDNN_VERSION'
  | 'ERR_NVJPEG_NOT_FOUND'
  | 'ERR_NVJPEG_VERSION'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_GPU_OUT_OF_MEMORY'
  | 'ERR_PYTORCH'
  | 'ERR_PYTORCH_UNAVAILABLE';

/**
 * Base class of every error this library throws.
 * @example
 * ```ts
 * import { BackendUnavailableError, ResnetError, resnet50, Tensor } from 'resnet-cudnn';
 * try {
 *   await resnet50({ device: 'cuda' }).forward(Tensor.zeros([1, 3, 224, 224]));
 * } catch (error) {
 *   if (error instanceof BackendUnavailableError) console.log(`no GPU here (${error.code}): using the CPU`);
 *   else if (error instanceof ResnetError) console.log(error.code, error.message);   // ERR_INVALID_SHAPE, …
 *   else throw error;
 * }
 * ```
 */
export class ResnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option or argument has the wrong type or value. */
export class InvalidArgumentError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** A tensor's shape does not fit what the operation needs (rank, channels, spatial size, length). */
export class ShapeError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_SHAPE', message, options);
  }
}

/** A tensor's dtype is not one the operation accepts. */
export class DTypeError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_DTYPE', message, options);
  }
}

/** One entry of a {@link StateDictError}'s report, naming the key as PyTorch does. */
export interface ShapeMismatch {
  key: string;
  expected: readonly number[];
  received: readonly number[];
}

/** `loadStateDict` found missing keys, unexpected keys or shape mismatches (PyTorch's wording). */
export class StateDictError extends ResnetError {
  readonly missingKeys: readonly string[];
  readonly unexpectedKeys: readonly string[];
  readonly shapeMismatches: readonly ShapeMismatch[];
  constructor(
    message: string,
    report: { missingKeys?: readonly string[]; unexpectedKeys?: readonly string[]; shapeMismatches?: readonly ShapeMismatch[] },
  ) {
    super('ERR_STATE_DICT', message);
    this.missingKeys = report.missingKeys ?? [];
    this.unexpectedKeys = report.unexpectedKeys ?? [];
    this.shapeMismatches = report.shapeMismatches ?? [];
  }
}

/** A file (safetensors, checkpoint, ONNX, image) is malformed, truncated or hostile. */
export class InvalidFileError extends ResnetError {
  /** For a call over several images (`ImagePipeline.preprocess`), the index of the one refused. */
  readonly element: number | undefined;
  constructor(message: string, options?: { cause?: unknown; element?: number }) {
    super('ERR_INVALID_FILE', message, options);
    this.element = options?.element;
  }
}

/**
 * An image's preprocessing would exceed its work budget, so it was refused from the image's size alone, before any
 * pixel was resized (or, for an encoded image, decoded): resized so its shorter side is `resizeSize`, it would
 * exceed the pixel limit (`maxPixels`), or its aspect ratio is past `maxAspectRatio`, so that the centre crop would
 * see a sliver of it. The message says which, and what to change.
 */
export class ImageBudgetError extends ResnetError {
  /** For a call over several images (`preprocess`, `ImagePipeline.preprocess`), the index of the one refused. */
  readonly element: number | undefined;
  constructor(message: string, options?: { element?: number }) {
    super('ERR_IMAGE_BUDGET', message);
    this.element = options?.element;
  }
}

/** The request is valid but this library (or this backend) does not implement it. */
export class UnsupportedError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNSUPPORTED', message, options);
  }
}

/**
 * An int8 forward of a model without quantization scales: calibrate it with `quantize(model, { calibration })`
 * (or load a quantized weights file) first. Its code is `ERR_UNSUPPORTED`, as for any unsupported request.
 */
export class NotQuantizedError extends UnsupportedError {}

/** The object was disposed and can no longer be used. */
export class DisposedError extends ResnetError {
  constructor(message: string) {
    super('ERR_DISPOSED', message);
  }
}

/**
 * A bounded queue (an `ImagePipeline`'s) is full: the work was refused before it started. Wait for queued
 * work to finish, or raise the bound (the message names the option).
 */
export class QueueFullError extends ResnetError {
  constructor(message: string) {
    super('ERR_QUEUE_FULL', message);
  }
}

/** Training is not supported: this is an inference library. */
export class NotTrainableError extends ResnetError {
  constructor(message: string) {
    super('ERR_NOT_TRAINABLE', message);
  }
}

/** The native addon could not be loaded. */
export class NativeLoadError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NATIVE_LOAD', message, options);
  }
}

/**
 * An optional package that this feature needs is not installed (the server's fastify and prom-client, the
 * bench chart's vega): the message names the `npm i` line.
 */
export class MissingDependencyError extends ResnetError {
  /** The packages to install, as `npm i` takes them. */
  readonly packages: readonly string[];
  constructor(message: string, packages: readonly string[], options?: { cause?: unknown }) {
    super('ERR_MISSING_DEPENDENCY', message, options);
    this.packages = packages;
  }
}

/** A backend (oneDNN, cuDNN) reported a failure while compiling or running. */
export class BackendError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BACKEND', message, options);
  }
}

/** The requested backend or device is not available on this machine. */
export class BackendUnavailableError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BACKEND_UNAVAILABLE', message, options);
  }
}

/**
 * No usable GPU: no NVIDIA driver, no CUDA device, or the device ordinal (`cuda:N`) does not exist.
 * A {@link BackendUnavailableError}, so code that handles "no GPU here" in general catches it too.
 */
export class NoGpuError extends BackendUnavailableError {
  // A field initialiser runs after the base constructor, so it replaces the generic code.
  override readonly code = 'ERR_NO_GPU';
}

/** `libcudnn.so.9` could not be found or loaded (the message lists where it looked and how to install it). */
export class CudnnNotFoundError extends BackendUnavailableError {
  override readonly code = 'ERR_CUDNN_NOT_FOUND';
}

/** The cuDNN found is of another major version than 9, or its sub-libraries do not match. */
export class CudnnVersionError extends BackendUnavailableError {
  override readonly code = 'ERR_CUDNN_VERSION';
}

/**
 * `libnvjpeg.so.13` / `.12` could not be found or loaded, so JPEGs are decoded on the CPU (the message lists
 * where it looked and how to install it).
 */
export class NvjpegNotFoundError extends BackendUnavailableError {
  override readonly code = 'ERR_NVJPEG_NOT_FOUND';
}

/** The nvJPEG found is not 12.x or 13.x, or lacks a function the GPU image decoder calls. */
export class NvjpegVersionError extends BackendUnavailableError {
  override readonly code = 'ERR_NVJPEG_VERSION';
}

/** Memory for weights or activations could not be allocated. */
export class OutOfMemoryError extends ResnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OUT_OF_MEMORY', message, options);
  }
}

/**
 * GPU memory ran out (the message says how much was needed). What was allocated for the failed call is
 * freed and the model stays usable: retry with a smaller batch or a lower precision.
 */
export class GpuOutOfMemoryError extends OutOfMemoryError {
  override readonly code = 'ERR_GPU_OUT_OF_MEMORY';
}

/**
 * The PyTorch side of `resnet bench --compare pytorch` (python/bench_pytorch.py, run in its own process)
 * failed, timed out or answered something unreadable. `stderrTail` holds the end of what it printed.
 */
export class PyTorchError extends ResnetError {
  /** The last lines Python wrote to stderr (its traceback, when it raised). */
  readonly stderrTail: string;
  /** Python's exit status; null when it was killed (the time limit) or never started. */
  readonly exitCode: number | null;
  constructor(message: string, details: { stderrTail?: string; exitCode?: number | null; cause?: unknown } = {}) {
    super('ERR_PYTORCH', message, { cause: details.cause });
    this.stderrTail = details.stderrTail ?? '';
    this.exitCode = details.exitCode ?? null;
  }
}

/**
 * No usable PyTorch for `--compare pytorch`: no Python, or it cannot import torch or torchvision, or it has
 * no CUDA where ours runs on a GPU. The message says what to install.
 */
export class PyTorchUnavailableError extends BackendUnavailableError {
  override readonly code = 'ERR_PYTORCH_UNAVAILABLE';
}

const byCode: Record<ErrorCode, new (message: string) => ResnetError> = {
  ERR_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_INVALID_SHAPE: ShapeError,
  ERR_INVALID_DTYPE: DTypeError,
  ERR_STATE_DICT: class extends StateDictError {
    constructor(m: string) {
      super(m, {});
    }
  },
  ERR_INVALID_FILE: InvalidFileError,
  ERR_IMAGE_BUDGET: ImageBudgetError,
  // Raised by io/download.ts's DownloadError (never by native code); kept here so every code maps to a class.
  ERR_DOWNLOAD: class extends ResnetError {
    constructor(m: string) {
      super('ERR_DOWNLOAD', m);
    }
  },
  ERR_UNSUPPORTED: UnsupportedError,
  ERR_DISPOSED: DisposedError,
  ERR_QUEUE_FULL: QueueFullError,
  ERR_NOT_TRAINABLE: NotTrainableError,
  ERR_NATIVE_LOAD: NativeLoadError,
  // Raised in TypeScript only (optional packages); kept here so every code maps to a class.
  ERR_MISSING_DEPENDENCY: class extends MissingDependencyError {
    constructor(m: string) {
      super(m, []);
    }
  },
  ERR_BACKEND: BackendError,
  ERR_BACKEND_UNAVAILABLE: BackendUnavailableError,
  ERR_NO_GPU: NoGpuError,
  ERR_CUDNN_NOT_FOUND: CudnnNotFoundError,
  ERR_CUDNN_VERSION: CudnnVersionError,
  ERR_NVJPEG_NOT_FOUND: NvjpegNotFoundError,
  ERR_NVJPEG_VERSION: NvjpegVersionError,
  ERR_OUT_OF_MEMORY: OutOfMemoryError,
  ERR_GPU_OUT_OF_MEMORY: GpuOutOfMemoryError,
  ERR_PYTORCH: PyTorchError,
  ERR_PYTORCH_UNAVAILABLE: PyTorchUnavailableError,
};

/**
 * Turns an error thrown by the native addon (a plain `Error` with a `code`) into the matching
 * typed error. `callSite` is an Error created before the call went asynchronous, so the stack
 * shows the user's own frames (sharp's habit).
 * @internal
 */
export function fromNative(error: unknown, callSite?: Error): ResnetError {
  if (error instanceof ResnetError) return error;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' && e.code in byCode ? (e.code as ErrorCode) : 'ERR_BACKEND';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const typed = new byCode[code](message);
  if (callSite?.stack) typed.stack = `${typed.name}: ${message}\n${callSite.stack.split('\n').slice(1).join('\n')}`;
  return typed;
}

/**
 * sharp's shape for argument errors: "Expected {what} for {name} but received {value}", the value shown
 * bounded (`describeValue`: 80 characters, however large or deeply nested it is).
 */
export function invalidArgument(what: string, name: string, value: unknown): InvalidArgumentError {
  let shown: string;
  try {
    shown = describeValue(value, 80);
  } catch {
    // A proxy or a getter that throws: say what it is rather than fail while reporting.
    shown = `a ${typeof value}`;
  }
  return new InvalidArgumentError(`Expected ${what} for ${name} but received ${shown}`);
}
