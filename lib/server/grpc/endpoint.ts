/**
 * The gRPC endpoint of a server: a @grpc/grpc-js server on its own port serving Triton's
 * `inference.GRPCInferenceService` (service.ts) from the main thread's state: the same models, batchers,
 * auth, limits and metrics as HTTP. Messages over `maxBodyBytes` are refused by grpc-js before they are read
 * (RESOURCE_EXHAUSTED), as HTTP refuses such bodies with 413.
 *
 * Shutdown comes in two steps, so that it fits the server's drain: {@link GrpcEndpoint.drain} stops taking
 * calls (grpc-js sends GOAWAY; new calls get UNAVAILABLE), ends each open stream once what it has read is
 * answered, and resolves when every call has finished; {@link GrpcEndpoint.forceShutdown} then cancels what
 * is left, past the server's deadline.
 * @module
 * @internal
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ServerContext } from '../server-context.js';
import { inferenceService } from './proto.js';
import { inferenceServiceHandlers } from './service.js';
import { grpcPackage } from './status.js';
import type { InferStream } from './stream.js';

/** `host:port` as a gRPC address (an IPv6 literal in brackets). */
export function grpcTarget(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A running gRPC endpoint. */
export class GrpcEndpoint {
  readonly #server: import('@grpc/grpc-js').Server;
  readonly #streams: Set<InferStream>;
  /** The port it listens on. */
  readonly port: number;
  #drained: Promise<void> | null = null;

  private constructor(server: import('@grpc/grpc-js').Server, streams: Set<InferStream>, port: number) {
    this.#server = server;
    this.#streams = streams;
    this.port = port;
  }

  /**
   * Listens on `host:port` (0: a free port) and serves `context`.
   * @throws MissingDependencyError when @grpc/grpc-js or @grpc/proto-loader is not installed; the bind error
   * (port in use, …) as grpc-js reports it.
   */
  static async start(context: ServerContext, host: string, port: number, log: FastifyBaseLogger): Promise<GrpcEndpoint> {
    const grpc = grpcPackage();
    const service = inferenceService();
    const server = new grpc.Server({
      'grpc.max_receive_message_length': context.options.maxBodyBytes,
      // Responses are logits or features (4 KB for 1000 classes): no limit of ours to hit.
      'grpc.max_send_message_length': -1,
      // grpc-js turns Node's socket timeout off and, by default, never closes a connection: one that never sends a
      // byte (or a channel left open with no call) would hold a descriptor for ever, as HTTP's did (issue 14). A
      // connection with no call in flight for idleConnectionTimeoutMs gets a GOAWAY; clients reconnect on their next call.
      'grpc.max_connection_idle_ms': context.options.idleConnectionTimeoutMs,
    });
    const streams = new Set<InferStream>();
    server.addService(service, inferenceServiceHandlers({ server: context, log, streams }));
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(grpcTarget(host, port), grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
        if (error === null) resolve(boundPort);
        else reject(new Error(`the gRPC endpoint cannot listen on ${grpcTarget(host, port)}: ${error.message}`, { cause: error }));
      });
    });
    return new GrpcEndpoint(server, streams, bound);
  }

  /** Stops taking calls and resolves once every call has finished (idempotent). */
  drain(): Promise<void> {
    this.#drained ??= new Promise<void>((resolve) => {
      for (const stream of [...this.#streams]) stream.close();
      this.#server.tryShutdown(() => resolve());
    });
    return this.#drained;
  }

  /** Cancels every call still open and closes the port at once. */
  forceShutdown(): void {
    this.#server.forceShutdown();
  }
}
