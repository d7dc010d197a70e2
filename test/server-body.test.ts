/**
 * The request-body reader: one buffer sized from Content-Length, the binary part of a binary-tensor
 * request placed on a 4-byte boundary (so FP32 is read in place), and the limits enforced.
 */
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BodyPool, readBody } from '../lib/server/body.js';
import { HttpError } from '../lib/server/http-error.js';

/** A request stream with `headers` that delivers `chunks` and then ends (or, with `abort`, is aborted). */
function request(headers: Record<string, string>, chunks: Buffer[], abort = false): IncomingMessage {
  const stream = new PassThrough() as unknown as IncomingMessage & PassThrough;
  Object.assign(stream, { headers });
  setImmediate(() => {
    for (const chunk of chunks) stream.write(chunk);
    if (abort) stream.emit('aborted');
    else stream.end();
  });
  return stream;
}

function read(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => readBody(req, maxBytes, (error, body) => (error ? reject(error) : resolve(body!))));
}

async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

describe('readBody', () => {
  it('puts the binary part after Inference-Header-Content-Length on a 4-byte boundary, bytes unchanged', async () => {
    for (const headerLength of [1, 2, 3, 4, 5, 190]) {
      const body = Buffer.from(Array.from({ length: headerLength + 64 }, (_, i) => (i * 7) & 255));
      // Delivered in uneven chunks, as a socket does.
      const chunks = [body.subarray(0, 3), body.subarray(3, 40), body.subarray(40)];
      const got = await read(request({ 'content-length': String(body.length), 'inference-header-content-length': String(headerLength) }, chunks), 1 << 20);
      expect(got.equals(body)).toBe(true);
      expect((got.byteOffset + headerLength) % 4).toBe(0);
    }
  });

  it('reads a body without Content-Length (chunked) up to the limit', async () => {
    const got = await read(request({}, [Buffer.from('{"inputs":'), Buffer.from('[]}')]), 100);
    expect(got.toString()).toBe('{"inputs":[]}');
  });

  it('refuses a declared length over the limit with 413 before reading anything', async () => {
    const req = request({ 'content-length': '1000' }, [Buffer.alloc(1000)]);
    const error = await refusal(read(req, 999));
    expect(error.status).toBe(413);
    expect(error.message).toBe('request body of 1000 bytes exceeds the limit of 999 bytes (maxBodyBytes, --max-body-bytes)');
  });

  it('refuses a chunked body that grows past the limit with 413', async () => {
    const error = await refusal(read(request({}, [Buffer.alloc(60), Buffer.alloc(60)]), 100));
    expect(error.status).toBe(413);
    expect(error.message).toBe('request body of more than 100 bytes exceeds the limit of 100 bytes (maxBodyBytes, --max-body-bytes)');
  });

  it('refuses bodies shorter or longer than their Content-Length, and a client gone mid-body, with 400', async () => {
    const short = await refusal(read(request({ 'content-length': '10' }, [Buffer.alloc(6)]), 100));
    expect([short.status, short.message]).toEqual([400, 'the request body ended after 6 of its 10 bytes (Content-Length)']);
    const long = await refusal(read(request({ 'content-length': '4' }, [Buffer.alloc(6)]), 100));
    expect([long.status, long.message]).toEqual([400, 'the request body is longer than its Content-Length of 4 bytes']);
    const gone = await refusal(read(request({ 'content-length': '10' }, [Buffer.alloc(3)], true), 100));
    expect([gone.status, gone.message]).toEqual([400, 'the client closed the connection before sending the whole body']);
  });
});

describe('BodyPool', () => {
  it('lends a large buffer per request and reuses it only after release', () => {
    const pool = new BodyPool(4 * 1024 * 1024);
    const a = {};
    const b = {};
    const first = pool.acquire(a, 602_286);
    expect(first.length).toBe(1024 * 1024);
    // Still lent to `a`: another request gets a different buffer.
    const second = pool.acquire(b, 602_286);
    expect(second.buffer).not.toBe(first.buffer);
    pool.release(a);
    expect(pool.retainedBytes).toBe(1024 * 1024);
    expect(pool.acquire({}, 700_000).buffer).toBe(first.buffer);
    expect(pool.retainedBytes).toBe(0);
    // Releasing twice, or an owner that borrowed nothing, returns nothing.
    pool.release(a);
    pool.release({});
    expect(pool.retainedBytes).toBe(0);
  });

  it('does not pool small bodies, and keeps at most its byte cap', () => {
    const pool = new BodyPool(1024 * 1024);
    const small = {};
    expect(pool.acquire(small, 1000).length).toBe(1000);
    pool.release(small);
    expect(pool.retainedBytes).toBe(0);
    const owners = [{}, {}];
    for (const owner of owners) pool.acquire(owner, 600_000);
    for (const owner of owners) pool.release(owner);
    expect(pool.retainedBytes).toBe(1024 * 1024);
  });

  it('reads a declared body into a pooled buffer, aligned as without a pool', async () => {
    const pool = new BodyPool();
    const body = Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 13) & 255));
    const req = request({ 'content-length': String(body.length), 'inference-header-content-length': '5' }, [body]);
    const got = await new Promise<Buffer>((resolve, reject) => readBody(req, 1 << 20, (error, b) => (error ? reject(error) : resolve(b!)), pool));
    expect(got.equals(body)).toBe(true);
    expect((got.byteOffset + 5) % 4).toBe(0);
    expect(got.buffer.byteLength).toBe(128 * 1024);
    pool.release(req);
    expect(pool.retainedBytes).toBe(128 * 1024);
  });
});
