/**
 * What every method of the gRPC endpoint does around its own work: the bearer token (metadata
 * `authorization: Bearer <token>`, compared in constant time by the HTTP server's check; ServerLive and
 * ServerReady answer without it, as `/v2/health/*` does), the error → status mapping (status.ts), an error
 * log line for failures that are not the client's, and the `resnet_grpc_calls_total` count.
 * @module
 * @internal
 */
import type { handleBidiStreamingCall, handleUnaryCall, Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { bearerTokenCheck, unauthorized } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { grpcFailureOf, statusObjectOf, type GrpcCodeName } from './status.js';

/** What the wrappers need of the server. */
export interface CallContext {
  readonly server: ServerContext;
  readonly log: FastifyBaseLogger;
}

/** Whether a method answers without a token. */
export type Access = 'public' | 'token';

/** A check of a call's metadata against the server's token (every call passes without one). */
export function tokenCheck(authToken: string | null): (metadata: Metadata) => boolean {
  if (authToken === null) return () => true;
  const check = bearerTokenCheck(authToken);
  return (metadata) => {
    const [value] = metadata.get('authorization');
    return check(typeof value === 'string' ? value : undefined);
  };
}

/** A unary call, as its handler sees it. */
export type UnaryCall = ServerUnaryCall<unknown, unknown>;

/** A signal that aborts when the call is cancelled (by the client, or its deadline). */
export function cancelSignal(call: UnaryCall): AbortSignal {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  return controller.signal;
}

/** Builds the unary and streaming handlers of one server's endpoint. */
export function callWrappers(context: CallContext): {
  unary<Request, Response>(method: string, access: Access, handle: (request: Request, call: UnaryCall) => Response | Promise<Response>): handleUnaryCall<Request, Response>;
  bidi<Request, Response>(method: string, start: (call: Parameters<handleBidiStreamingCall<Request, Response>>[0], finished: (code: GrpcCodeName) => void) => void): handleBidiStreamingCall<Request, Response>;
  logInternal(method: string, error: unknown): void;
} {
  const { server, log } = context;
  const authorized = tokenCheck(server.options.authToken);
  const logInternal = (method: string, error: unknown): void => {
    log.error({ err: error, grpcMethod: method }, 'gRPC request failed');
  };
  const failed = (method: string, error: unknown): ReturnType<typeof statusObjectOf> => {
    const failure = grpcFailureOf(error);
    if (failure.internal) logInternal(method, error);
    else log.debug({ grpcMethod: method, code: failure.code, error: failure.details }, 'gRPC request refused');
    server.metrics.grpcCallFinished(method, failure.code);
    return statusObjectOf(failure);
  };
  return {
    unary(method, access, handle) {
      return (call, callback) => {
        void (async () => {
          try {
            if (access === 'token' && !authorized(call.metadata)) throw unauthorized();
            const response = await handle(call.request, call);
            server.metrics.grpcCallFinished(method, 'OK');
            callback(null, response);
          } catch (error) {
            callback(failed(method, error));
          }
        })();
      };
    },
    bidi(method, start) {
      return (call) => {
        if (!authorized(call.metadata)) {
          call.emit('error', failed(method, unauthorized()));
          return;
        }
        start(call, (code) => server.metrics.grpcCallFinished(method, code));
      };
    },
    logInternal,
  };
}
