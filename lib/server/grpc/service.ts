/**
 * The methods of `inference.GRPCInferenceService`, each answered from the same state as its HTTP route:
 * health, server and model metadata, model configuration and statistics (the same documents, in protobuf
 * form), inference (infer.ts, stream.ts) and system shared memory (shared-memory.ts). The model repository,
 * CUDA shared memory, tracing and log settings, which the HTTP server has none of either, answer UNIMPLEMENTED.
 * @module
 * @internal
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { version as packageVersion } from '../../version.js';
import { modelConfig, modelMetadata, serverMetadata } from '../metadata.js';
import { cancelSignal, callWrappers, type CallContext } from './calls.js';
import { modelInfer } from './infer.js';
import type { ModelInferRequest, ModelRequest, ModelStreamInferResponse } from './messages.js';
import { sharedMemoryMethods } from './shared-memory.js';
import { GrpcError } from './status.js';
import { InferStream } from './stream.js';

/** What the service needs: the server's state, its log, and the set of open streams (closed with the server). */
export interface ServiceContext extends CallContext {
  readonly streams: Set<InferStream>;
}

/** An empty version asks for the highest, as an unversioned URL does. */
function versionOf(request: ModelRequest): string | undefined {
  return request.version === '' ? undefined : request.version;
}

/** The methods this server does not implement, each with why. */
const unimplemented: Readonly<Record<string, string>> = Object.freeze({
  RepositoryIndex: 'the model repository extension is not supported: the models are fixed when the server starts (list them with ModelMetadata)',
  RepositoryModelLoad: 'the model repository extension is not supported: the models are fixed when the server starts',
  RepositoryModelUnload: 'the model repository extension is not supported: the models are fixed when the server starts',
  TraceSetting: 'the trace extension is not supported by this server',
  LogSettings: 'the logging extension is not supported by this server: set the log level with --log-level when starting it',
});

/** The implementation of every method of the service, for `grpc.Server.addService`. */
export function inferenceServiceHandlers(context: ServiceContext): UntypedServiceImplementation {
  const { server, streams } = context;
  const { registry, state } = server;
  const calls = callWrappers(context);
  const handlers: UntypedServiceImplementation = {
    ServerLive: calls.unary('ServerLive', 'public', () => ({ live: true })),
    ServerReady: calls.unary('ServerReady', 'public', () => ({ ready: state.ready })),
    ModelReady: calls.unary('ModelReady', 'token', (request: ModelRequest) => {
      const slot = registry.find(request.name, versionOf(request));
      return { ready: slot.loaded !== null && !state.closing };
    }),
    ServerMetadata: calls.unary('ServerMetadata', 'token', () => (
      serverMetadata(server.options.serverName, packageVersion, { systemSharedMemory: server.sharedMemory !== null }))),
    ModelMetadata: calls.unary('ModelMetadata', 'token', (request: ModelRequest) => {
      const { loaded } = registry.findLoaded(request.name, versionOf(request));
      return { ...modelMetadata(loaded.model.signature), versions: registry.versions(request.name) };
    }),
    ModelConfig: calls.unary('ModelConfig', 'token', (request: ModelRequest) => {
      const { model } = registry.findLoaded(request.name, versionOf(request)).loaded;
      return { config: modelConfig(model.signature, model.batching, model.device.startsWith('cuda') ? 'gpu' : 'cpu', server.options) };
    }),
    ModelStatistics: calls.unary('ModelStatistics', 'token', (request: ModelRequest) => {
      if (request.name === '') return server.metrics.statistics();
      // Statistics of a known model, even one still loading (all zero then); unknown → NOT_FOUND.
      const slot = registry.find(request.name, versionOf(request));
      return server.metrics.statistics(request.name, request.version === '' ? undefined : slot.options.version);
    }),
    ModelInfer: calls.unary('ModelInfer', 'token', (request: ModelInferRequest, call) => (
      modelInfer(server, request, { signal: cancelSignal(call), admitted: true, client: `grpc:${call.getPeer()}` }))),
    ModelStreamInfer: calls.bidi<ModelInferRequest, ModelStreamInferResponse>('ModelStreamInfer', (call, finished) => {
      const stream: InferStream = new InferStream(server, call, (error) => calls.logInternal('ModelStreamInfer', error), (code) => {
        streams.delete(stream);
        finished(code);
      });
      streams.add(stream);
      if (state.closing) stream.close();
    }),
    ...sharedMemoryMethods(server, calls),
  };
  for (const [method, why] of Object.entries(unimplemented)) {
    handlers[method] = calls.unary(method, 'token', () => {
      throw new GrpcError('UNIMPLEMENTED', why);
    });
  }
  return handlers;
}
