/**
 * Reading a request body into one buffer: the chunks are kept as they arrive and copied once, at the end,
 * into a buffer lent by the thread's {@link BodyPool} (a block of the registered arena the engine reads in
 * place, see body-pool.ts), not into one allocated from Content-Length up front: memory then follows the
 * bytes a client really sent, so clients that declare large bodies and send nothing hold nothing. The
 * limits (`maxBodyBytes`, `maxJsonBodyBytes`, Content-Length) are enforced as the chunks arrive.
 *
 * Which limit applies is known from the headers, before the body: a body without
 * `Inference-Header-Content-Length` is all JSON (the protocol's rule, as Triton's), and JSON costs the
 * thread's event loop time to parse, so it has its own smaller limit; with the header, only that prefix is
 * JSON, and the header's value is held to the JSON limit while the whole body may reach `maxBodyBytes`.
 * `100 Continue` goes out only once these checks have passed (see refusals.ts).
 *
 * No alignment is arranged: tensors are read where they lie in the body (the engine reads unaligned input).
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { BodyPool } from './body-pool.js';
import { badRequest, payloadTooLarge, type HttpError } from './http-error.js';
import { continueIfExpected } from './refusals.js';
import { jsonAdvice } from './request-json.js';

/** The body limits of the server's options. */
export interface BodyLimits {
  /** Any body (`maxBodyBytes`). */
  maxBodyBytes: number;
  /** A JSON body, or the JSON header of a body with binary data (`maxJsonBodyBytes`). */
  maxJsonBodyBytes: number;
}

/** The declared length of a header, or null when absent or not a plain decimal integer. */
function declaredLength(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return null;
  return Number(value);
}

function tooLarge(bytes: number | string, maxBytes: number): HttpError {
  return payloadTooLarge(`request body of ${bytes} bytes exceeds the limit of ${maxBytes} bytes (maxBodyBytes, --max-body-bytes)`);
}

/** 413 for a JSON body over `maxJsonBodyBytes`. */
export function jsonBodyTooLarge(bytes: number | string, maxBytes: number): HttpError {
  return payloadTooLarge(`JSON request body of ${bytes} bytes exceeds the limit of ${maxBytes} bytes for JSON (maxJsonBodyBytes, --max-json-body-bytes): ${jsonAdvice}`);
}

/** The most `request`'s body may hold, and the refusal past it; or a refusal before reading. */
function limitOf(request: IncomingMessage, limits: BodyLimits): { maxBytes: number; refuse: (bytes: number | string) => HttpError; early: HttpError | null } {
  const headerLength = request.headers['inference-header-content-length'];
  if (headerLength === undefined) {
    // All JSON: the smaller limit, in the words of the one that binds.
    return limits.maxJsonBodyBytes < limits.maxBodyBytes
      ? { maxBytes: limits.maxJsonBodyBytes, refuse: (bytes) => jsonBodyTooLarge(bytes, limits.maxJsonBodyBytes), early: null }
      : { maxBytes: limits.maxBodyBytes, refuse: (bytes) => tooLarge(bytes, limits.maxBodyBytes), early: null };
  }
  // A malformed value, or one past the declared body, is the route's 400 (splitInferBody); only a well-formed
  // one over the limit is refused here.
  const jsonBytes = declaredLength(headerLength);
  const bodyBytes = declaredLength(request.headers['content-length']);
  const early = jsonBytes !== null && jsonBytes > limits.maxJsonBodyBytes && (bodyBytes === null || jsonBytes <= bodyBytes)
    ? payloadTooLarge(`the JSON header of ${jsonBytes} bytes (Inference-Header-Content-Length) exceeds the limit of ${limits.maxJsonBodyBytes} bytes `
      + `for JSON (maxJsonBodyBytes, --max-json-body-bytes): send tensors as binary data after the header, or raise the limit`)
    : null;
  return { maxBytes: limits.maxBodyBytes, refuse: (bytes) => tooLarge(bytes, limits.maxBodyBytes), early };
}

/**
 * Reads `request`'s body (within `limits`) and calls `done` once: with the body, or with a 413 (a
 * declared or actual length over the limit, refused before reading when declared), or a 400 (a body
 * shorter than its `Content-Length`, or the client gone mid-body). With a `pool`, the body is read into a
 * buffer of the pool, lent to `request` until every hold on it is released (`pool.release(request)` when
 * its response closes, and those `pool.retain(request)` took).
 */
export function readBody(
  request: IncomingMessage, limits: BodyLimits, done: (error: Error | null, body?: Buffer) => void, pool?: BodyPool,
): void {
  let finished = false;
  const finish = (error: Error | null, body?: Buffer): void => {
    if (finished) return;
    finished = true;
    request.removeAllListeners('data');
    done(error, body);
  };
  const { maxBytes, refuse, early } = limitOf(request, limits);
  const contentLength = declaredLength(request.headers['content-length']);
  if (early !== null || (contentLength !== null && contentLength > maxBytes)) {
    finish(early ?? refuse(contentLength!));
    return;
  }
  continueIfExpected(request);
  const chunks: Buffer[] = [];
  let received = 0;
  request.on('data', (chunk: Buffer) => {
    if (finished) return;
    if (received + chunk.length > (contentLength ?? maxBytes)) {
      finish(contentLength === null
        ? refuse(`more than ${maxBytes}`)
        : badRequest(`the request body is longer than its Content-Length of ${contentLength} bytes`));
      return;
    }
    chunks.push(chunk);
    received += chunk.length;
  });
  request.on('end', () => {
    if (contentLength !== null && received !== contentLength) {
      finish(badRequest(`the request body ended after ${received} of its ${contentLength} bytes (Content-Length)`));
      return;
    }
    const whole = pool === undefined ? Buffer.allocUnsafe(received) : pool.acquire(request, received);
    let offset = 0;
    for (const chunk of chunks) offset += chunk.copy(whole, offset);
    finish(null, whole);
  });
  request.on('aborted', () => finish(badRequest('the client closed the connection before sending the whole body')));
  request.on('error', (error) => finish(badRequest(`reading the request body failed: ${error.message}`)));
}
