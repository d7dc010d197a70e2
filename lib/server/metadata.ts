/**
 * What the server says about itself and its models: server metadata (protocol §4), model metadata
 * (§5, batch dimension as `-1`) and Triton's model configuration (the `model_configuration` extension),
 * which perf_analyzer and Triton's clients read to learn batching limits and tensor types.
 * @module
 */
import type { Datatype, InputSignature, ModelMetadata, ModelSignature, ResolvedBatchingOptions, ServerMetadata, TensorSignature } from './types.js';

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
  /** Inputs: the order of an image's dims (model_config.proto's `Format`). */
  format?: 'FORMAT_NCHW' | 'FORMAT_NHWC';
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
  /**
   * Model parameters (model_config.proto's `parameters`): the input forms accepted besides the declared one,
   * and the request body limits (`max_body_bytes`, `max_json_body_bytes`, `max_json_values`) where the server gave them.
   */
  parameters: Record<string, { string_value: string }>;
}

/** The server's request body limits, as `/config` reports them. */
export interface BodyLimitParameters {
  maxBodyBytes: number;
  maxJsonBodyBytes: number;
  maxJsonValues: number;
}

/**
 * `GET /v2/models/{m}/config`. The backend is the platform's project part (`<project>_<format>`, as
 * `onnxruntime` is to `onnxruntime_onnx`). A request's `timeout` parameter overrides the default queue
 * timeout, and a timed-out request is rejected: hence `allow_timeout_override` and `REJECT`. With `limits`,
 * `parameters` also says how large a request body may be (`max_body_bytes`) and how large its JSON
 * (`max_json_body_bytes`: a body without Inference-Header-Content-Length, or the JSON header of one with it).
 */
export function modelConfig(
  signature: ModelSignature, batching: ResolvedBatchingOptions & { instanceCount: number }, deviceKind: 'cpu' | 'gpu', limits?: BodyLimitParameters,
): ModelConfig {
  const parameters: Record<string, { string_value: string }> = Object.fromEntries(
    signature.inputs.map((input) => [`${input.name}.accepted_forms`, { string_value: acceptedForms(input) }]),
  );
  if (limits !== undefined) {
    parameters.max_body_bytes = { string_value: String(limits.maxBodyBytes) };
    parameters.max_json_body_bytes = { string_value: String(Math.min(limits.maxJsonBodyBytes, limits.maxBodyBytes)) };
    parameters.max_json_values = { string_value: String(limits.maxJsonValues) };
  }
  return {
    name: signature.name,
    platform: signature.platform,
    backend: signature.platform.split('_')[0]!,
    max_batch_size: signature.maxBatchSize,
    input: signature.inputs.map((input) => ({ ...configTensor(input), format: input.layout === 'NHWC' ? 'FORMAT_NHWC' as const : 'FORMAT_NCHW' as const })),
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
    parameters,
  };
}

function configTensor(tensor: TensorSignature): ModelConfigTensor {
  return { name: tensor.name, data_type: tritonDataType(tensor.datatype), dims: [...tensor.sampleShape] };
}

/** Triton's config spelling of a wire datatype: `FP32` → `TYPE_FP32`; BYTES is `TYPE_STRING` there. */
export function tritonDataType(datatype: Datatype): string {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}

/**
 * Every form an input takes, for `/config`: `FP32 [-1,3,224,224] or [-1,224,224,3]; FP16 …; UINT8 … (pixels,
 * normalised by the server); BYTES [-1] (encoded images)`.
 */
export function acceptedForms(input: InputSignature): string {
  const { channels, height, width } = input.image;
  const shapes = `[-1,${channels},${height},${width}] or [-1,${height},${width},${channels}]`;
  return input.accepts.map((datatype) => {
    if (datatype === 'BYTES') return 'BYTES [-1] (encoded JPEG/PNG/WebP images)';
    if (datatype === 'UINT8') return `UINT8 ${shapes} (pixels, normalised by the server with the weights' mean and std)`;
    return `${datatype} ${shapes}`;
  }).join('; ');
}
