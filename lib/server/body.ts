/**
 * Reading a request body into one buffer. fastify's own `parseAs: 'buffer'` collects the chunks and
 * concatenates them; this reader does the same into a pooled buffer, and places the body so that the
 * binary part of a binary-tensor request (after `Inference-Header-Content-Length` bytes of JSON) starts
 * on a 4-byte boundary. FP32 tensors are then read in place as a `Float32Array` view rather than copied
 * (a 600 KB copy per image, and the garbage it makes, are a measurable share of a CPU server's time).
 *
 * Large bodies come from a pool and go back to it when their response has closed: V8 answers every new
 * multi-hundred-kilobyte ArrayBuffer with old-space garbage collections (at 100 images/s, a mark-compact
 * every 130 ms, 15 % of the event loop, measured with --trace-gc). Nothing reads a body after its
 * response closed: a request's tensor is copied into the batch when the batch is formed, and a request
 * that leaves the queue early (timeout, client gone) is removed from it before its response closes.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { badRequest, payloadTooLarge, type HttpError } from './http-error.js';

/** The declared length of a header, or null when absent or not a plain decimal integer. */
function declaredLength(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return null;
  return Number(value);
}

function tooLarge(bytes: number | string, maxBytes: number): HttpError {
  return payloadTooLarge(`request body of ${bytes} bytes exceeds the limit of ${maxBytes} bytes (maxBodyBytes, --max-body-bytes)`);
}

/** Bodies below this come from Node's own small-buffer pool; pooling them gains nothing. */
const smallestPooled = 64 * 1024;

/**
 * Reusable body buffers in power-of-two size classes, holding at most `maxRetainedBytes` while unused.
 * `acquire` hands one out for a request; `release` takes it back when the request's response has closed.
 */
export class BodyPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #lent = new WeakMap<object, Buffer>();
  readonly #maxRetainedBytes: number;
  #retainedBytes = 0;

  constructor(maxRetainedBytes = 64 * 1024 * 1024) {
    this.#maxRetainedBytes = maxRetainedBytes;
  }

  /** A buffer of at least `bytes` for `owner` (a request), pooled when large. */
  acquire(owner: object, bytes: number): Buffer {
    if (bytes < smallestPooled) return Buffer.allocUnsafe(bytes);
    const capacity = 2 ** Math.ceil(Math.log2(bytes));
    const buffer = this.#free.get(capacity)?.pop();
    if (buffer !== undefined) this.#retainedBytes -= capacity;
    const lent = buffer ?? Buffer.allocUnsafe(capacity);
    this.#lent.set(owner, lent);
    return lent;
  }

  /** Takes back what `owner` was lent (once its response has closed); nothing when it had none. */
  release(owner: object): void {
    const buffer = this.#lent.get(owner);
    if (buffer === undefined) return;
    this.#lent.delete(owner);
    if (this.#retainedBytes + buffer.length > this.#maxRetainedBytes) return;
    this.#retainedBytes += buffer.length;
    const list = this.#free.get(buffer.length);
    if (list === undefined) this.#free.set(buffer.length, [buffer]);
    else list.push(buffer);
  }

  /** Bytes held for reuse now. */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }
}

/**
 * Reads `request`'s body (at most `maxBytes`) and calls `done` once: with the body, or with a 413 (a
 * declared or actual length over the limit, refused before reading when declared), or a 400 (a body
 * shorter than its `Content-Length`, or the client gone mid-body). With a `pool`, the body is read into a
 * buffer of the pool, lent to `request` until `pool.release(request)`.
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
  const headerLength = declaredLength(request.headers['inference-header-content-length']);
  // Padding in front of the body that puts its binary part on a 4-byte boundary.
  const pad = headerLength === null ? 0 : (4 - (headerLength % 4)) % 4;
  // The chunks are kept as they arrive and copied into one buffer at the end, not into one allocated
  // from Content-Length up front: memory then follows the bytes a client really sent, so clients that
  // declare large bodies and send nothing hold nothing.
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
    const whole = pool === undefined ? Buffer.allocUnsafe(pad + received) : pool.acquire(request, pad + received);
    let offset = pad;
    for (const chunk of chunks) offset += chunk.copy(whole, offset);
    finish(null, whole.subarray(pad, pad + received));
  });
  request.on('aborted', () => finish(badRequest('the client closed the connection before sending the whole body')));
  request.on('error', (error) => finish(badRequest(`reading the request body failed: ${error.message}`)));
}
