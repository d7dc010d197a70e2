/**
 * Reading a request body into one buffer: the chunks are kept as they arrive and copied once, at the end,
 * into a buffer lent by the thread's {@link BodyPool} (a block of the registered arena the engine reads in
 * place, see body-pool.ts), not into one allocated from Content-Length up front: memory then follows the
 * bytes a client really sent, so clients that declare large bodies and send nothing hold nothing. The
 * limits (`maxBodyBytes`, Content-Length) are enforced as the chunks arrive.
 *
 * No alignment is arranged: tensors are read where they lie in the body (the engine reads unaligned input).
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { BodyPool } from './body-pool.js';
import { badRequest, payloadTooLarge, type HttpError } from './http-error.js';

/** The declared length of a header, or null when absent or not a plain decimal integer. */
function declaredLength(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return null;
  return Number(value);
}

function tooLarge(bytes: number | string, maxBytes: number): HttpError {
  return payloadTooLarge(`request body of ${bytes} bytes exceeds the limit of ${maxBytes} bytes (maxBodyBytes, --max-body-bytes)`);
}

/**
 * Reads `request`'s body (at most `maxBytes`) and calls `done` once: with the body, or with a 413 (a
 * declared or actual length over the limit, refused before reading when declared), or a 400 (a body
 * shorter than its `Content-Length`, or the client gone mid-body). With a `pool`, the body is read into a
 * buffer of the pool, lent to `request` until every hold on it is released (`pool.release(request)` when
 * its response closes, and those `pool.retain(request)` took).
 */
export function readBody(
  request: IncomingMessage, maxBytes: number, done: (error: Error | null, body?: Buffer) => void, pool?: BodyPool,
): void {
  let finished = false;
  const finish = (error: Error | null, body?: Buffer): void => {
    if (finished) return;
    finished = true;
    request.removeAllListeners('data');
    done(error, body);
  };
  const contentLength = declaredLength(request.headers['content-length']);
  if (contentLength !== null && contentLength > maxBytes) {
    finish(tooLarge(contentLength, maxBytes));
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  request.on('data', (chunk: Buffer) => {
    if (finished) return;
    if (received + chunk.length > (contentLength ?? maxBytes)) {
      finish(contentLength === null
        ? tooLarge(`more than ${maxBytes}`, maxBytes)
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
