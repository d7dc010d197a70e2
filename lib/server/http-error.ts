/**
 * The one error type of the server's request path: a status, a message for the `{"error": …}` body, and
 * optional response headers (`Retry-After` on 503). Every component below the routes throws these for
 * anything the client did or can retry; anything else reaching a route is a 500.
 * @module
 */

/** Why a request failed, as Triton's `nv_inference_request_failure{reason}` label spells it. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

/** An HTTP error answered as `{"error": message}` with `status`. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly reason: FailureReason;
  constructor(status: number, message: string, options: { headers?: Record<string, string>; reason?: FailureReason; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.headers = options.headers ?? {};
    this.reason = options.reason ?? (status === 503 ? 'REJECTED' : 'OTHER');
  }
}

/** 400: the request is malformed or does not fit the model. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

/** 404: no such model or version. */
export function notFound(message: string): HttpError {
  return new HttpError(404, message);
}

/** 413: the body exceeds the configured limit. */
export function payloadTooLarge(message: string): HttpError {
  return new HttpError(413, message);
}

/**
 * 503: not ready, shutting down, queue full or timed out. Always with `Retry-After` (`retryAfterSeconds`,
 * default 1): every cause passes, and a client without it may give up or retry at once.
 */
export function unavailable(message: string, retryAfterSeconds = 1): HttpError {
  return new HttpError(503, message, { headers: { 'retry-after': String(retryAfterSeconds) } });
}
