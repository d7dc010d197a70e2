/**
 * A gRPC client of the server's `inference.GRPCInferenceService` for the tests: @grpc/grpc-js with stubs
 * loaded from the project's .proto by @grpc/proto-loader (64-bit integers as numbers, absent fields at their
 * defaults), each unary method as a promise, and the stream method as it is. A failed call rejects with
 * grpc-js's ServiceError, whose `code` is a gRPC status number (see {@link grpcStatus}).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';

/** The project's .proto folder. */
export const protoFolder = fileURLToPath(new URL('../../proto/', import.meta.url));

/** gRPC status codes by name. */
export const grpcStatus = grpc.status;

/** Per-call options: metadata (the token) and a deadline (ms since the epoch). */
export interface CallOptions {
  metadata?: grpc.Metadata;
  deadline?: number;
}

/** A connected client: unary methods by name, `stream` for ModelStreamInfer, `close`. */
export interface InferenceClient {
  call(method: string, request: object, options?: CallOptions): Promise<Record<string, unknown>>;
  stream(metadata?: grpc.Metadata): grpc.ClientDuplexStream<object, Record<string, unknown>>;
  close(): void;
}

/** Metadata carrying `authorization: Bearer <token>`. */
export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** A client of the service at `target` (`127.0.0.1:port`), sending messages up to `maxSendBytes` (default 64 MiB). */
export function inferenceClient(target: string, maxSendBytes = 64 * 1024 * 1024): InferenceClient {
  const definition = protoLoader.loadSync('grpc_service.proto', {
    includeDirs: [protoFolder], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  const client = new loaded.inference.GRPCInferenceService(target, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': maxSendBytes,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  }) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const call = (method: string, request: object, options: CallOptions = {}) => (
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const callOptions = options.deadline === undefined ? {} : { deadline: options.deadline };
      client[method]!(request, options.metadata ?? new grpc.Metadata(), callOptions, (error: grpc.ServiceError | null, response: Record<string, unknown>) => {
        if (error) reject(error);
        else resolve(response);
      });
    }));
  return {
    call,
    stream: (metadata) => client.ModelStreamInfer!(metadata ?? new grpc.Metadata()) as grpc.ClientDuplexStream<object, Record<string, unknown>>,
    close: () => client.close(),
  };
}

/** The status a call rejected with: its code's name and message. */
export async function failureOf(promise: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    return { code: grpc.status[e.code], details: e.details };
  }
  throw new Error('the call succeeded, but a failure was expected');
}

/**
 * Starts the server `create` makes before the tests of the enclosing `describe` (or file), with a client of its
 * gRPC endpoint, and closes both after them. Read `server` and `client` inside the tests.
 */
export function servingGrpc(create: () => InferenceServer): { readonly server: InferenceServer; readonly client: InferenceClient } {
  let server: InferenceServer | undefined;
  let client: InferenceClient | undefined;
  beforeAll(async () => {
    server = create();
    await server.start();
    client = inferenceClient(server.grpcAddress!.target);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });
  return {
    get server() {
      return server!;
    },
    get client() {
      return client!;
    },
  };
}
