/**
 * The Open Inference Protocol (KServe V2) server: `createServer(options)` and its types.
 * @module resnet-cudnn/server
 */
export { createServer, type InferenceServer } from './server.js';
export { resolveServerOptions } from './options.js';
export type { ServedModel, ModelInput } from './served-model.js';
export type { ServerMetrics } from './metrics.js';
export { HttpError, type FailureReason } from './http-error.js';
export {
  serverDefaults, tensorNames,
  type ServerOptions, type ModelOptions, type BatchingOptions, type LogLevel,
  type ResolvedServerOptions, type ResolvedModelOptions, type ResolvedBatchingOptions,
  type Datatype, type Parameters, type TensorMetadata, type ServerMetadata, type ModelMetadata,
  type TensorSignature, type InputSignature, type OutputSignature, type ModelSignature,
} from './types.js';
