/**
 * The layers and the module tree (`torch.nn` for inference).
 * @module
 */
export { Module, setForwardExecutor } from './module.js';
export type {
  AllocateInputOptions, ForwardExecutor, ForwardOptions, LoadStateDictOptions, LoadStateDictResult, StateDict, WarmupOptions,
} from './module.js';
export { Conv2d } from './conv.js';
export type { Conv2dOptions } from './conv.js';
export { BatchNorm2d } from './batchnorm.js';
export type { BatchNorm2dOptions } from './batchnorm.js';
export { ReLU } from './activation.js';
export type { ReLUOptions } from './activation.js';
export { MaxPool2d, AdaptiveAvgPool2d } from './pooling.js';
export type { AdaptiveSize, MaxPool2dOptions } from './pooling.js';
export { Linear } from './linear.js';
export type { LinearOptions } from './linear.js';
export { Sequential } from './sequential.js';
export { Flatten } from './flatten.js';
export { Identity } from './identity.js';
export * as init from './init.js';
export { Tracer } from './trace.js';
export type { Trace, TraceCall, TraceNode, TraceValue } from './trace.js';
