/**
 * The project's .proto against Triton's published definition: every method of `inference.GRPCInferenceService`
 * with Triton's request and response types and streaming, and every field of every message with Triton's name,
 * number, type and label. What Triton's clients put on the wire is decided by these, so a field renumbered
 * here would break them while our own stubs (generated from the same file) kept agreeing with the server.
 *
 * The reference below is transcribed by hand from triton-inference-server/common `protobuf/grpc_service.proto`
 * and `protobuf/model_config.proto` (package `inference`). Our messages may leave fields out (proto3 skips
 * unknown fields), but each field they have must be Triton's, and each message and enum must exist there.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { protoFolder } from '../helpers/grpc-client.js';

/** Triton's service: method → `Request -> Response`, `stream` marking a streamed side. */
const tritonMethods: Record<string, string> = {
  ServerLive: 'ServerLiveRequest -> ServerLiveResponse',
  ServerReady: 'ServerReadyRequest -> ServerReadyResponse',
  ModelReady: 'ModelReadyRequest -> ModelReadyResponse',
  ServerMetadata: 'ServerMetadataRequest -> ServerMetadataResponse',
  ModelMetadata: 'ModelMetadataRequest -> ModelMetadataResponse',
  ModelInfer: 'ModelInferRequest -> ModelInferResponse',
  ModelStreamInfer: 'stream ModelInferRequest -> stream ModelStreamInferResponse',
  ModelConfig: 'ModelConfigRequest -> ModelConfigResponse',
  ModelStatistics: 'ModelStatisticsRequest -> ModelStatisticsResponse',
  RepositoryIndex: 'RepositoryIndexRequest -> RepositoryIndexResponse',
  RepositoryModelLoad: 'RepositoryModelLoadRequest -> RepositoryModelLoadResponse',
  RepositoryModelUnload: 'RepositoryModelUnloadRequest -> RepositoryModelUnloadResponse',
  SystemSharedMemoryStatus: 'SystemSharedMemoryStatusRequest -> SystemSharedMemoryStatusResponse',
  SystemSharedMemoryRegister: 'SystemSharedMemoryRegisterRequest -> SystemSharedMemoryRegisterResponse',
  SystemSharedMemoryUnregister: 'SystemSharedMemoryUnregisterRequest -> SystemSharedMemoryUnregisterResponse',
  CudaSharedMemoryStatus: 'CudaSharedMemoryStatusRequest -> CudaSharedMemoryStatusResponse',
  CudaSharedMemoryRegister: 'CudaSharedMemoryRegisterRequest -> CudaSharedMemoryRegisterResponse',
  CudaSharedMemoryUnregister: 'CudaSharedMemoryUnregisterRequest -> CudaSharedMemoryUnregisterResponse',
  TraceSetting: 'TraceSettingRequest -> TraceSettingResponse',
  LogSettings: 'LogSettingsRequest -> LogSettingsResponse',
};

/** Triton's messages (nested ones as `Outer.Inner`): `label type name = number`, `;`-separated. */
const tritonMessages: Record<string, string> = {
  ServerLiveRequest: '',
  ServerLiveResponse: 'bool live = 1',
  ServerReadyRequest: '',
  ServerReadyResponse: 'bool ready = 1',
  ModelReadyRequest: 'string name = 1; string version = 2',
  ModelReadyResponse: 'bool ready = 1',
  ServerMetadataRequest: '',
  ServerMetadataResponse: 'string name = 1; string version = 2; repeated string extensions = 3',
  ModelMetadataRequest: 'string name = 1; string version = 2',
  'ModelMetadataResponse.TensorMetadata': 'string name = 1; string datatype = 2; repeated int64 shape = 3',
  ModelMetadataResponse: 'string name = 1; repeated string versions = 2; string platform = 3; repeated TensorMetadata inputs = 4; repeated TensorMetadata outputs = 5',
  InferParameter: 'bool bool_param = 1; int64 int64_param = 2; string string_param = 3; double double_param = 4; uint64 uint64_param = 5',
  InferTensorContents: 'repeated bool bool_contents = 1; repeated int32 int_contents = 2; repeated int64 int64_contents = 3; repeated uint32 uint_contents = 4; '
    + 'repeated uint64 uint64_contents = 5; repeated float fp32_contents = 6; repeated double fp64_contents = 7; repeated bytes bytes_contents = 8',
  'ModelInferRequest.InferInputTensor': 'string name = 1; string datatype = 2; repeated int64 shape = 3; map<string,InferParameter> parameters = 4; InferTensorContents contents = 5',
  'ModelInferRequest.InferRequestedOutputTensor': 'string name = 1; map<string,InferParameter> parameters = 2',
  ModelInferRequest: 'string model_name = 1; string model_version = 2; string id = 3; map<string,InferParameter> parameters = 4; repeated InferInputTensor inputs = 5; '
    + 'repeated InferRequestedOutputTensor outputs = 6; repeated bytes raw_input_contents = 7',
  'ModelInferResponse.InferOutputTensor': 'string name = 1; string datatype = 2; repeated int64 shape = 3; map<string,InferParameter> parameters = 4; InferTensorContents contents = 5',
  ModelInferResponse: 'string model_name = 1; string model_version = 2; string id = 3; map<string,InferParameter> parameters = 4; repeated InferOutputTensor outputs = 5; '
    + 'repeated bytes raw_output_contents = 6',
  ModelStreamInferResponse: 'string error_message = 1; ModelInferResponse infer_response = 2',
  ModelConfigRequest: 'string name = 1; string version = 2',
  ModelConfigResponse: 'ModelConfig config = 1',
  ModelStatisticsRequest: 'string name = 1; string version = 2',
  StatisticDuration: 'uint64 count = 1; uint64 ns = 2',
  InferStatistics: 'StatisticDuration success = 1; StatisticDuration fail = 2; StatisticDuration queue = 3; StatisticDuration compute_input = 4; '
    + 'StatisticDuration compute_infer = 5; StatisticDuration compute_output = 6; StatisticDuration cache_hit = 7; StatisticDuration cache_miss = 8',
  InferBatchStatistics: 'uint64 batch_size = 1; StatisticDuration compute_input = 2; StatisticDuration compute_infer = 3; StatisticDuration compute_output = 4',
  ModelStatistics: 'string name = 1; string version = 2; uint64 last_inference = 3; uint64 inference_count = 4; uint64 execution_count = 5; '
    + 'InferStatistics inference_stats = 6; repeated InferBatchStatistics batch_stats = 7; repeated MemoryUsage memory_usage = 8; '
    + 'map<string,InferResponseStatistics> response_stats = 9',
  ModelStatisticsResponse: 'repeated ModelStatistics model_stats = 1',
  ModelRepositoryParameter: 'bool bool_param = 1; int64 int64_param = 2; string string_param = 3; bytes bytes_param = 4',
  RepositoryIndexRequest: 'string repository_name = 1; bool ready = 2',
  'RepositoryIndexResponse.ModelIndex': 'string name = 1; string version = 2; string state = 3; string reason = 4',
  RepositoryIndexResponse: 'repeated ModelIndex models = 1',
  RepositoryModelLoadRequest: 'string repository_name = 1; string model_name = 2; map<string,ModelRepositoryParameter> parameters = 3',
  RepositoryModelLoadResponse: '',
  RepositoryModelUnloadRequest: 'string repository_name = 1; string model_name = 2; map<string,ModelRepositoryParameter> parameters = 3',
  RepositoryModelUnloadResponse: '',
  SystemSharedMemoryStatusRequest: 'string name = 1',
  'SystemSharedMemoryStatusResponse.RegionStatus': 'string name = 1; string key = 2; uint64 offset = 3; uint64 byte_size = 4',
  SystemSharedMemoryStatusResponse: 'map<string,RegionStatus> regions = 1',
  SystemSharedMemoryRegisterRequest: 'string name = 1; string key = 2; uint64 offset = 3; uint64 byte_size = 4',
  SystemSharedMemoryRegisterResponse: '',
  SystemSharedMemoryUnregisterRequest: 'string name = 1',
  SystemSharedMemoryUnregisterResponse: '',
  CudaSharedMemoryStatusRequest: 'string name = 1',
  'CudaSharedMemoryStatusResponse.RegionStatus': 'string name = 1; uint64 device_id = 2; uint64 byte_size = 3',
  CudaSharedMemoryStatusResponse: 'map<string,RegionStatus> regions = 1',
  CudaSharedMemoryRegisterRequest: 'string name = 1; bytes raw_handle = 2; int64 device_id = 3; uint64 byte_size = 4',
  CudaSharedMemoryRegisterResponse: '',
  CudaSharedMemoryUnregisterRequest: 'string name = 1',
  CudaSharedMemoryUnregisterResponse: '',
  'TraceSettingRequest.SettingValue': 'repeated string value = 1',
  TraceSettingRequest: 'map<string,SettingValue> settings = 1; string model_name = 2',
  'TraceSettingResponse.SettingValue': 'repeated string value = 1',
  TraceSettingResponse: 'map<string,SettingValue> settings = 1',
  'LogSettingsRequest.SettingValue': 'bool bool_param = 1; uint32 uint32_param = 2; string string_param = 3',
  LogSettingsRequest: 'map<string,SettingValue> settings = 1',
  'LogSettingsResponse.SettingValue': 'bool bool_param = 1; uint32 uint32_param = 2; string string_param = 3',
  LogSettingsResponse: 'map<string,SettingValue> settings = 1',
  // model_config.proto (the fields of ModelConfig this server may set, and those around them).
  ModelInstanceGroup: 'string name = 1; Kind kind = 4; int32 count = 2; ModelRateLimiter rate_limiter = 6; repeated int32 gpus = 3; '
    + 'repeated SecondaryDevice secondary_devices = 8; repeated string profile = 5; bool passive = 7; string host_policy = 9',
  ModelInput: 'string name = 1; DataType data_type = 2; Format format = 3; repeated int64 dims = 4; ModelTensorReshape reshape = 5; bool is_shape_tensor = 6; '
    + 'bool allow_ragged_batch = 7; bool optional = 8; bool is_non_linear_format_io = 9',
  ModelOutput: 'string name = 1; DataType data_type = 2; repeated int64 dims = 3; ModelTensorReshape reshape = 5; string label_filename = 4; '
    + 'bool is_shape_tensor = 6; bool is_non_linear_format_io = 7',
  ModelQueuePolicy: 'TimeoutAction timeout_action = 1; uint64 default_timeout_microseconds = 2; bool allow_timeout_override = 3; uint32 max_queue_size = 4',
  ModelDynamicBatching: 'repeated int32 preferred_batch_size = 1; uint64 max_queue_delay_microseconds = 2; bool preserve_ordering = 3; uint64 priority_levels = 4; '
    + 'uint64 default_priority_level = 5; ModelQueuePolicy default_queue_policy = 6; map<uint64,ModelQueuePolicy> priority_queue_policy = 7',
  ModelParameter: 'string string_value = 1',
  ModelConfig: 'string name = 1; string platform = 2; string backend = 17; string runtime = 25; ModelVersionPolicy version_policy = 3; int32 max_batch_size = 4; '
    + 'repeated ModelInput input = 5; repeated ModelOutput output = 6; repeated BatchInput batch_input = 20; repeated BatchOutput batch_output = 21; '
    + 'ModelOptimizationPolicy optimization = 12; ModelDynamicBatching dynamic_batching = 11; ModelSequenceBatching sequence_batching = 13; '
    + 'ModelEnsembling ensemble_scheduling = 15; repeated ModelInstanceGroup instance_group = 7; string default_model_filename = 8; '
    + 'map<string,string> cc_model_filenames = 9; map<string,string> metric_tags = 10; map<string,ModelParameter> parameters = 14; '
    + 'repeated ModelWarmup model_warmup = 16; ModelOperations model_operations = 18; ModelTransactionPolicy model_transaction_policy = 19; '
    + 'ModelRepositoryAgents model_repository_agents = 23; ModelResponseCache response_cache = 24; ModelMetrics model_metrics = 26',
};

/** Triton's enums: `NAME = value`, `;`-separated. */
const tritonEnums: Record<string, string> = {
  DataType: 'TYPE_INVALID = 0; TYPE_BOOL = 1; TYPE_UINT8 = 2; TYPE_UINT16 = 3; TYPE_UINT32 = 4; TYPE_UINT64 = 5; TYPE_INT8 = 6; TYPE_INT16 = 7; '
    + 'TYPE_INT32 = 8; TYPE_INT64 = 9; TYPE_FP16 = 10; TYPE_FP32 = 11; TYPE_FP64 = 12; TYPE_STRING = 13; TYPE_BF16 = 14',
  'ModelInstanceGroup.Kind': 'KIND_AUTO = 0; KIND_GPU = 1; KIND_CPU = 2; KIND_MODEL = 3',
  'ModelInput.Format': 'FORMAT_NONE = 0; FORMAT_NHWC = 1; FORMAT_NCHW = 2',
  'ModelQueuePolicy.TimeoutAction': 'REJECT = 0; DELAY = 1',
};

/** A field as `label type name = number`, the way the tables above spell it. */
function spelled(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) return `map<${field.keyType},${field.type}> ${field.name} = ${field.id}`;
  return `${field.repeated ? 'repeated ' : ''}${field.type} ${field.name} = ${field.id}`;
}

const root = new protobuf.Root().loadSync(path.join(protoFolder, 'grpc_service.proto'), { keepCase: true });
root.resolveAll();
const inference = root.lookup('inference') as protobuf.Namespace;

/** Every message and enum of the package, by name relative to it (`ModelInferRequest.InferInputTensor`). */
function declared(namespace: protobuf.NamespaceBase, prefix = ''): { messages: Map<string, protobuf.Type>; enums: Map<string, protobuf.Enum> } {
  const messages = new Map<string, protobuf.Type>();
  const enums = new Map<string, protobuf.Enum>();
  for (const nested of namespace.nestedArray) {
    const name = `${prefix}${nested.name}`;
    if (nested instanceof protobuf.Enum) enums.set(name, nested);
    if (nested instanceof protobuf.Type) {
      messages.set(name, nested);
      const inner = declared(nested, `${name}.`);
      inner.messages.forEach((value, key) => messages.set(key, value));
      inner.enums.forEach((value, key) => enums.set(key, value));
    }
  }
  return { messages, enums };
}

describe("the project's .proto against Triton's grpc_service.proto and model_config.proto", () => {
  const { messages, enums } = declared(inference);

  it('the service has every method of Triton\'s, with its request and response types and streaming', () => {
    const service = inference.lookupService('GRPCInferenceService');
    const ours = Object.fromEntries(service.methodsArray.map((method) => [
      method.name, `${method.requestStream ? 'stream ' : ''}${method.requestType} -> ${method.responseStream ? 'stream ' : ''}${method.responseType}`,
    ]));
    expect(ours).toEqual(tritonMethods);
  });

  it('every message is Triton\'s, and each of its fields has Triton\'s name, number, type and label', () => {
    for (const [name, type] of messages) {
      const reference = tritonMessages[name];
      expect(reference, `message ${name} is not Triton's`).toBeDefined();
      const triton = new Set(reference!.split(';').map((field) => field.trim()).filter(Boolean));
      for (const field of type.fieldsArray) expect(triton.has(spelled(field)), `${name}: ${spelled(field)}`).toBe(true);
    }
    // The messages of grpc_service.proto are all there, each with all of Triton's fields but the statistics
    // this server has none of; model_config.proto's are a subset.
    for (const [name, reference] of Object.entries(tritonMessages)) {
      if (['ModelInstanceGroup', 'ModelInput', 'ModelOutput', 'ModelDynamicBatching', 'ModelConfig', 'ModelStatistics'].includes(name)) continue;
      expect(messages.get(name)?.fieldsArray.map(spelled).join('; '), name).toBe(reference.split(';').map((f) => f.trim()).filter(Boolean).join('; '));
    }
  });

  it('the oneofs are Triton\'s', () => {
    expect(messages.get('InferParameter')!.oneofs!.parameter_choice!.fieldsArray.map((f) => f.name))
      .toEqual(['bool_param', 'int64_param', 'string_param', 'double_param', 'uint64_param']);
    expect(messages.get('ModelConfig')!.oneofs!.scheduling_choice!.fieldsArray.map((f) => f.name)).toEqual(['dynamic_batching']);
  });

  it('every enum has Triton\'s values', () => {
    expect([...enums.keys()].sort()).toEqual(Object.keys(tritonEnums).sort());
    for (const [name, values] of Object.entries(tritonEnums)) {
      const ours = Object.entries(enums.get(name)!.values).map(([key, value]) => `${key} = ${value}`).join('; ');
      expect(ours, name).toBe(values);
    }
  });
});
