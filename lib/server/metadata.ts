/**
 * What the server says about itself and its models: server metadata (protocol §4), model metadata
 * (§5, batch dimension as `-1`) and Triton's model configuration (the `model_configuration` extension),
 * which perf_analyzer and Triton's clients read to learn batching limits and tensor types.
 * @module
 */
import type { Datatype, ModelMetadata, ModelSignature, ResolvedBatchingOptions, ServerMetadata, TensorSignature } from './types.js';

/** The protocol extensions this server implements, in Triton's spelling; clients look here first. */
export const serverExtensions: readonly string[] = Object.freeze([
  'binary_tensor_data', 'classification', 'model_configuration', 'statistics', 'schedule_policy',
]);

/** `GET /v2`; `system_shared_memory` is listed only when the server accepts it (`allowShm`). */
export function serverMetadata(name: string, version: string, options: { systemSharedMemory?: boolean } = {}): ServerMetadata {
  return { name, version, extensions: [...serverExtensions, ...(options.systemSharedMemory === true ? ['system_shared_memory'] : [])] };
}

/** `GET /v2/models/{m}`: every tensor with its batch dimension as `-1`, inputs with their declared type. */
export function modelMetadata(signature: ModelSignature): ModelMetadata {
  return {
    name: signature.name,
    versions: [signature.version],
    platform: signature.platform,
    inputs: signature.inputs.map(tensorMetadata),
    outputs: signature.outputs.map(tensorMetadata),
  };
}

function tensorMetadata(tensor: TensorSignature): { name: string; datatype: Datatype; shape: number[] } {
  return { name: tensor.name, datatype: tensor.datatype, shape: [-1, ...tensor.sampleShape] };
}

/** A tensor of Triton's model configuration (`dims` without the batch dimension). */
export interface ModelConfigTensor {
  name: string;
  data_type: string;
  dims: number[];
}

/** Triton's model configuration JSON (model_config.proto), the fields this server has. */
export interface ModelConfig {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  input: ModelConfigTensor[];
  output: ModelConfigTensor[];
  dynamic_batching: {
    preferred_batch_size: number[];
    max_queue_delay_microseconds: number;
    default_queue_policy: {
      timeout_action: 'REJECT';
      default_timeout_microseconds: number;
      allow_timeout_override: boolean;
      max_queue_size: number;
    };
  };
  instance_group: { count: number; kind: 'KIND_CPU' | 'KIND_GPU' }[];
}

/**
 * `GET /v2/models/{m}/config`. The backend is the platform's project part (`<project>_<format>`, as
 * `onnxruntime` is to `onnxruntime_onnx`). A request's `timeout` parameter overrides the default queue
 * timeout, and a timed-out request is rejected: hence `allow_timeout_override` and `REJECT`.
 */
export function modelConfig(
  signature: ModelSignature, batching: ResolvedBatchingOptions & { instanceCount: number }, deviceKind: 'cpu' | 'gpu',
): ModelConfig {
  return {
    name: signature.name,
    platform: signature.platform,
    backend: signature.platform.split('_')[0]!,
    max_batch_size: signature.maxBatchSize,
    input: signature.inputs.map(configTensor),
    output: signature.outputs.map(configTensor),
    dynamic_batching: {
      preferred_batch_size: [...batching.preferredBatchSizes],
      max_queue_delay_microseconds: batching.maxQueueDelayMicroseconds,
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: batching.defaultTimeoutMicroseconds,
        allow_timeout_override: true,
        max_queue_size: batching.maxQueueSize,
      },
    },
    instance_group: [{ count: batching.instanceCount, kind: deviceKind === 'gpu' ? 'KIND_GPU' : 'KIND_CPU' }],
  };
}

function configTensor(tensor: TensorSignature): ModelConfigTensor {
  return { name: tensor.name, data_type: tritonDataType(tensor.datatype), dims: [...tensor.sampleShape] };
}

/** Triton's config spelling of a wire datatype: `FP32` → `TYPE_FP32`; BYTES is `TYPE_STRING` there. */
export function tritonDataType(datatype: Datatype): string {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}
