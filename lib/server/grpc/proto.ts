/**
 * The service definition of the gRPC endpoint: Triton's `inference.GRPCInferenceService`, read from the
 * package's own `proto/grpc_service.proto` (and the `model_config.proto` it imports) by @grpc/proto-loader.
 * Both gRPC packages are optional peers of the server, loaded only when a server starts its gRPC endpoint;
 * the parsed definition is kept for the next server of the process.
 * @module
 * @internal
 */
import path from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { packageRootOf } from '../../runtime/package-root.js';
import { requireServerPeer } from '../optional-peers.js';
import { protoLoaderOptions } from './messages.js';

/** The full name of the service in the .proto. */
export const inferenceServiceName = 'inference.GRPCInferenceService';

/** The folder of the package's .proto files (shipped with it: package.json `files`). */
export function protoDirectory(): string {
  return path.join(packageRootOf(import.meta.url), 'proto');
}

/** The file that defines the service (its imports are found beside it). */
export const serviceProtoFile = 'grpc_service.proto';

let service: ServiceDefinition | null = null;

/**
 * `GRPCInferenceService`'s methods, with their paths and (de)serializers.
 * @throws MissingDependencyError when @grpc/proto-loader is not installed.
 */
export function inferenceService(): ServiceDefinition {
  if (service !== null) return service;
  const protoLoader = requireServerPeer<typeof ProtoLoader>('@grpc/proto-loader');
  const definition = protoLoader.loadSync(serviceProtoFile, { ...protoLoaderOptions, includeDirs: [protoDirectory()] });
  const found = definition[inferenceServiceName];
  if (found === undefined || !('ModelInfer' in found)) throw new Error(`${serviceProtoFile} defines no service ${inferenceServiceName}`);
  service = found as ServiceDefinition;
  return service;
}
