/**
 * The messages of Triton's `inference.GRPCInferenceService` that the endpoint reads and writes, as
 * @grpc/proto-loader hands them over with {@link protoLoaderOptions}: field names as in the .proto
 * (`model_name`), 64-bit integers as decimal strings (exact, whatever their size), enums by name, `bytes` as
 * Buffers (views on the received message), every absent field at its default (`''`, `[]`, `{}`; a message
 * field `null`) and a oneof's chosen member named by the oneof. Outgoing messages may give 64-bit integers as
 * numbers.
 * @module
 * @internal
 */

/** How proto-loader turns wire messages into the objects below (and back). */
export const protoLoaderOptions = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** `InferParameter`: one of five typed values; `parameter_choice` names the one set (absent when none is). */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

/** `InferTensorContents`: a tensor's elements in typed form, in the field of its datatype. */
export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

/** `ModelInferRequest.InferInputTensor`. */
export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: string[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

/** `ModelInferRequest.InferRequestedOutputTensor`. */
export interface InferRequestedOutputTensor {
  name: string;
  parameters: Record<string, InferParameter>;
}

/** `ModelInferRequest`. */
export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: InferRequestedOutputTensor[];
  raw_input_contents: Buffer[];
}

/** `ModelInferResponse.InferOutputTensor`, as this server writes it (the bytes go in `raw_output_contents`). */
export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
}

/** `ModelInferResponse`. */
export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  /** One per output, in the order of `outputs`. */
  raw_output_contents: Buffer[];
}

/** `ModelStreamInferResponse`: a response, or the error of one request of the stream. */
export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: Partial<ModelInferResponse> | null;
}

/** The requests that name a model (`ModelReadyRequest`, `ModelMetadataRequest`, …); an empty version: the highest. */
export interface ModelRequest {
  name: string;
  version: string;
}

/** `SystemSharedMemoryRegisterRequest`. */
export interface SharedMemoryRegisterRequest {
  name: string;
  key: string;
  offset: string;
  byte_size: string;
}
