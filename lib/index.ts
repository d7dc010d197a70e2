/**
 * resnet-cudnn: torchvision's ResNets for Node.js, on oneDNN (CPU) and cuDNN (GPU).
 *
 * ```ts
 * import { resnet50, Tensor, loadSafetensors } from 'resnet-cudnn';
 * const model = resnet50({ device: 'auto', dtype: 'float16' });   // model.device: 'cuda:0' or 'cpu'
 * model.loadStateDict(await loadSafetensors('resnet50.safetensors'));
 * const logits = await model.forward(Tensor.from(pixels, [8, 3, 224, 224]));
 * ```
 * @module resnet-cudnn
 */
import { setForwardExecutor } from './nn/module.js';
import { setPlacementResolver } from './nn/placement.js';
import { compiledExecutor } from './compile/executor.js';
export { lastForwardStats, type ForwardStats } from './compile/executor.js';
import { placementResolver } from './runtime/device.js';

export * from './errors.js';
export * from './tensor.js';
export * from './nn/index.js';
export { Tracer, type Trace, type TraceCall, type TraceNode, type TraceValue } from './nn/trace.js';
export * from './models/resnet.js';
export * from './models/registry.js';
export * from './models/cifar.js';
export * from './models/weights.js';
export { loadPretrained, type LoadPretrainedOptions } from './models/pretrained.js';
export { IMAGENET_CATEGORIES } from './data/imagenet-classes.js';
export {
  downloadToCache, torchHome, checkpointsDir, hashPrefixOf, isUnreachable, defaultMaxDownloadBytes, DownloadError, type DownloadOptions,
} from './io/download.js';
export * from './random.js';
export * from './io/safetensors.js';
export * from './io/cifar10.js';
export * from './io/onnx.js';
export { loadCheckpoint, parseCheckpoint, extractStateDict, loadStateDictFile, allowedGlobals, type ExtractStateDictOptions } from './io/torch.js';
export { saveCheckpoint, serializeCheckpoint } from './io/torch-save.js';
export { lower, batchNormAffine, type LowerOptions } from './compile/lower.js';
export type * from './compile/graph.js';
export { macsPerSample } from './compile/flops.js';
export { summary, type ModelSummary, type SummaryRow, type SummaryColumn, type SummaryOptions } from './compile/summary.js';
export {
  backendInfo, compileGraph, prepareGraph, Executable, PreparedGraph,
  type CompileOptions, type RunInput, type AllocateInputOptions as ExecutableAllocateInputOptions, type InputArrays,
} from './runtime/engine.js';
export {
  allocateHostMemory, registerHostMemory, HostMemoryRegistration, type HostMemoryTarget,
} from './runtime/host-memory.js';
export type {
  NativeInfo, CpuBackendInfo, LowPrecisionIsa, CudaBackendInfo, UnavailableBackendInfo, ImageDecoderInfo, BackendName, Precision,
  InputNormalization, InputDType, InputLayout, CudnnOptions, StemForm,
} from './runtime/native.js';
export {
  parseDevice, resolveDevice, cudaAvailable, checkComputeDType, computeDTypes, dtypeFallbackWarning,
  type ParsedDevice, type DeviceSpec, type Device, type ComputeDType, type Placement, type PlacementOptions,
} from './runtime/device.js';
export { setNumThreads, getNumThreads } from './runtime/threads.js';
export { mapSharedMemory, SharedMemoryMapping, type SharedMemoryRange } from './runtime/shared-memory.js';
export { version } from './version.js';
export { readImage, defaultMaxPixels, type ReadImageOptions } from './vision/image.js';
export * from './vision/pipeline.js';
export {
  preprocess, resize, resizedSize, centerCrop, centerCropOffset, imagenetMean, imagenetStd, type PreprocessOptions, type Interpolation,
  type PixelLimitOptions,
} from './vision/transforms.js';
export { defaultMaxAspectRatio } from './vision/budget.js';

// Model code knows nothing of backends (DESIGN.md): the entry point plugs the compiled executor and
// the device resolver in.
setForwardExecutor(compiledExecutor);
setPlacementResolver(placementResolver);
