/**
 * How the server's errors travel over gRPC: an {@link HttpError}'s status becomes the gRPC status Triton
 * answers in the same case (400 → INVALID_ARGUMENT, 401 → UNAUTHENTICATED, 404 → NOT_FOUND, 413 →
 * RESOURCE_EXHAUSTED, 499 → CANCELLED, 503 → UNAVAILABLE), with the same message and its headers as trailing
 * metadata (`retry-after`); a {@link GrpcError} carries its own code; anything else is INTERNAL.
 * @module
 * @internal
 */
import type * as Grpc from '@grpc/grpc-js';
import { HttpError } from '../http-error.js';
import { requireServerPeer } from '../optional-peers.js';

/** The name of a gRPC status code (`'INVALID_ARGUMENT'`). */
export type GrpcCodeName = keyof typeof Grpc.status;

/** @grpc/grpc-js, loaded with the first gRPC endpoint. @throws MissingDependencyError when it is not installed. */
export function grpcPackage(): typeof Grpc {
  return requireServerPeer<typeof Grpc>('@grpc/grpc-js');
}

/** An error with its own gRPC status, for what has no HTTP counterpart (UNIMPLEMENTED methods). */
export class GrpcError extends Error {
  readonly code: GrpcCodeName;
  constructor(code: GrpcCodeName, message: string) {
    super(message);
    this.name = 'GrpcError';
    this.code = code;
  }
}

const byHttpStatus: Readonly<Record<number, GrpcCodeName>> = Object.freeze({
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  413: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
});

/** The gRPC status of an HTTP status of the server's errors: as the table says, else by class (4xx, 5xx). */
export function grpcCodeOfHttpStatus(status: number): GrpcCodeName {
  return byHttpStatus[status] ?? (status < 500 ? 'INVALID_ARGUMENT' : 'INTERNAL');
}

/** What a call that failed with `error` answers: its status code (by name), message and trailing metadata. */
export interface GrpcFailure {
  code: GrpcCodeName;
  details: string;
  /** Headers of the error (`retry-after`), sent as trailing metadata. */
  trailers: Readonly<Record<string, string>>;
  /** Not the client's doing: a bug or an engine failure, worth an error log line. */
  internal: boolean;
}

/** The {@link GrpcFailure} of whatever a handler threw. */
export function grpcFailureOf(error: unknown): GrpcFailure {
  if (error instanceof HttpError) {
    const code = grpcCodeOfHttpStatus(error.status);
    // The bearer challenge is HTTP's; the gRPC status says it all.
    const { 'www-authenticate': _challenge, ...trailers } = error.headers;
    return { code, details: error.message, trailers, internal: code === 'INTERNAL' };
  }
  if (error instanceof GrpcError) return { code: error.code, details: error.message, trailers: {}, internal: false };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', details: `internal error: ${message}`, trailers: {}, internal: true };
}

/** The status object grpc-js sends for `failure`. */
export function statusObjectOf(failure: GrpcFailure): Partial<Grpc.StatusObject> {
  const grpc = grpcPackage();
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(failure.trailers)) metadata.set(key, value);
  return { code: grpc.status[failure.code], details: failure.details, metadata };
}
