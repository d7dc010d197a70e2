/**
 * The request-body reader (the chunks copied once into one buffer, the limits enforced: maxBodyBytes, and
 * maxJsonBodyBytes for JSON by Inference-Header-Content-Length), the arena
 * allocator (first fit, merged on free, checked against a byte-by-byte model of the arena) and the body
 * pool (arena blocks first, shared memory beyond it, memory reused only once every hold is released).
 */
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { readBody, type BodyLimits } from '../../lib/server/body.js';
import { ArenaAllocator, arenaAlignment } from '../../lib/server/body-arena.js';
import { BodyPool } from '../../lib/server/body-pool.js';
import { rng } from '../helpers/helpers.js';
import { HttpError } from '../../lib/server/http-error.js';

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

/** Reads with one limit for any body, or with `limits`. */
function read(req: IncomingMessage, limits: number | BodyLimits): Promise<Buffer> {
  const both = typeof limits === 'number' ? { maxBodyBytes: limits, maxJsonBodyBytes: limits } : limits;
  return new Promise((resolve, reject) => readBody(req, both, (error, body) => (error ? reject(error) : resolve(body!))));
}

async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

describe('readBody', () => {
  it('joins the chunks into one buffer, bytes unchanged', async () => {
    const body = Buffer.from(Array.from({ length: 190 + 64 }, (_, i) => (i * 7) & 255));
    // Delivered in uneven chunks, as a socket does.
    const chunks = [body.subarray(0, 3), body.subarray(3, 40), body.subarray(40)];
    const got = await read(request({ 'content-length': String(body.length), 'inference-header-content-length': '190' }, chunks), 1 << 20);
    expect(got.equals(body)).toBe(true);
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

  it('holds a body without Inference-Header-Content-Length (all JSON) to maxJsonBodyBytes, in its own words', async () => {
    const limits = { maxBodyBytes: 1000, maxJsonBodyBytes: 100 };
    const advice = 'send tensors as binary data (the binary tensor extension, with Inference-Header-Content-Length), or raise the limit';
    const declared = await refusal(read(request({ 'content-length': '101' }, [Buffer.alloc(101)]), limits));
    expect([declared.status, declared.message]).toEqual([413, `JSON request body of 101 bytes exceeds the limit of 100 bytes for JSON (maxJsonBodyBytes, --max-json-body-bytes): ${advice}`]);
    const chunked = await refusal(read(request({}, [Buffer.alloc(60), Buffer.alloc(60)]), limits));
    expect([chunked.status, chunked.message]).toEqual([413, `JSON request body of more than 100 bytes exceeds the limit of 100 bytes for JSON (maxJsonBodyBytes, --max-json-body-bytes): ${advice}`]);
    expect((await read(request({ 'content-length': '100' }, [Buffer.alloc(100)]), limits)).length).toBe(100);
    // A JSON limit above maxBodyBytes: maxBodyBytes binds, and says so.
    const body = await refusal(read(request({ 'content-length': '101' }, [Buffer.alloc(101)]), { maxBodyBytes: 100, maxJsonBodyBytes: 1000 }));
    expect(body.message).toBe('request body of 101 bytes exceeds the limit of 100 bytes (maxBodyBytes, --max-body-bytes)');
  });

  it('holds a body with binary data to maxBodyBytes and its JSON header to maxJsonBodyBytes', async () => {
    const limits = { maxBodyBytes: 1000, maxJsonBodyBytes: 100 };
    expect((await read(request({ 'content-length': '900', 'inference-header-content-length': '100' }, [Buffer.alloc(900)]), limits)).length).toBe(900);
    const header = await refusal(read(request({ 'content-length': '900', 'inference-header-content-length': '101' }, [Buffer.alloc(900)]), limits));
    expect([header.status, header.message]).toEqual([413, 'the JSON header of 101 bytes (Inference-Header-Content-Length) exceeds the limit of 100 bytes '
      + 'for JSON (maxJsonBodyBytes, --max-json-body-bytes): send tensors as binary data after the header, or raise the limit']);
    const whole = await refusal(read(request({ 'content-length': '1001', 'inference-header-content-length': '10' }, [Buffer.alloc(1001)]), limits));
    expect(whole.message).toBe('request body of 1001 bytes exceeds the limit of 1000 bytes (maxBodyBytes, --max-body-bytes)');
    // A malformed header length, or one past the body, is the infer route's 400 (splitInferBody), not a refusal of the body.
    expect((await read(request({ 'content-length': '500', 'inference-header-content-length': '501' }, [Buffer.alloc(500)]), limits)).length).toBe(500);
    expect((await read(request({ 'content-length': '500', 'inference-header-content-length': '1e3' }, [Buffer.alloc(500)]), limits)).length).toBe(500);
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


describe('ArenaAllocator', () => {
  /** Aligned offsets where a run of `size` free bytes starts in `owner` (-1: free), lowest first. */
  function fits(owner: Int32Array, size: number): number[] {
    const starts: number[] = [];
    for (let at = 0; at + size <= owner.length; at += arenaAlignment) {
      let free = true;
      for (let i = at; i < at + size && free; i++) free = owner[i] === -1;
      if (free) starts.push(at);
    }
    return starts;
  }

  /** The free runs of `owner`, merged. */
  function freeRuns(owner: Int32Array): { offset: number; bytes: number }[] {
    const runs: { offset: number; bytes: number }[] = [];
    for (let i = 0; i < owner.length; i++) {
      if (owner[i] !== -1) continue;
      const last = runs.at(-1);
      if (last !== undefined && last.offset + last.bytes === i) last.bytes++;
      else runs.push({ offset: i, bytes: 1 });
    }
    return runs;
  }

  it('hands out the lowest free range that fits and merges what comes back (against a byte model)', () => {
    const capacity = 32 * 1024;
    const arena = new ArenaAllocator(capacity);
    const owner = new Int32Array(capacity).fill(-1);
    const live = new Map<number, number>(); // offset → rounded size
    const random = rng(7);
    let refused = 0;
    for (let step = 0; step < 4000; step++) {
      if (live.size > 0 && random() < 0.45) {
        const offsets = [...live.keys()];
        const offset = offsets[Math.floor(random() * offsets.length)]!;
        arena.free(offset);
        owner.fill(-1, offset, offset + live.get(offset)!);
        live.delete(offset);
      } else {
        const bytes = 1 + Math.floor(random() * 3000);
        const size = Math.ceil(bytes / arenaAlignment) * arenaAlignment;
        const expected = fits(owner, size)[0] ?? null;
        const offset = arena.allocate(bytes);
        expect(offset).toBe(expected);
        if (offset === null) {
          refused++;
          continue;
        }
        owner.fill(step, offset, offset + size);
        live.set(offset, size);
      }
      expect(arena.freeRanges()).toEqual(freeRuns(owner));
      expect(arena.usedBytes).toBe([...live.values()].reduce((a, b) => a + b, 0));
      expect(arena.blocks).toBe(live.size);
    }
    // The run filled the arena often enough to test refusals, and emptied it again at the end.
    expect(refused).toBeGreaterThan(10);
    for (const offset of live.keys()) arena.free(offset);
    expect(arena.freeRanges()).toEqual([{ offset: 0, bytes: capacity }]);
  });

  it('refuses to free a block it did not hand out', () => {
    const arena = new ArenaAllocator(4096);
    const offset = arena.allocate(100)!;
    arena.free(offset);
    expect(() => arena.free(offset)).toThrow(/no block at offset 0/);
    expect(() => arena.free(64)).toThrow(/no block at offset 64/);
  });
});

describe('BodyPool', () => {
  const arenaBytes = 4 * 1024 * 1024;

  it('lends blocks of its arena, and another request never gets a block still lent', () => {
    const pool = new BodyPool();
    const arena = new SharedArrayBuffer(arenaBytes);
    pool.useArena(arena);
    const a = {};
    const b = {};
    const first = pool.acquire(a, 602_286);
    expect(first.buffer).toBe(arena);
    expect(first.length).toBe(602_286);
    const second = pool.acquire(b, 602_286);
    expect(second.buffer).toBe(arena);
    expect(second.byteOffset).toBeGreaterThanOrEqual(first.byteOffset + first.length);
    pool.release(a);
    expect(pool.acquire({}, 500_000).byteOffset).toBe(first.byteOffset);
    // Releasing twice, or an owner that borrowed nothing, returns nothing.
    pool.release(a);
    pool.release({});
    expect(pool.stats().arenaBlocks).toBe(2);
  });

  it('reuses a block only once every hold is released (the response and the batch that reads it)', () => {
    const pool = new BodyPool();
    pool.useArena(new SharedArrayBuffer(arenaBytes));
    const request = {};
    const body = pool.acquire(request, 100_000);
    const batchDone = pool.retain(request);
    pool.release(request); // the client went away: its response closed
    expect(pool.acquire({}, 100_000).byteOffset).not.toBe(body.byteOffset);
    expect(pool.stats().arenaBlocks).toBe(2);
    batchDone();
    batchDone(); // a second call does nothing
    expect(pool.stats().arenaBlocks).toBe(1);
    expect(pool.acquire({}, 100_000).byteOffset).toBe(body.byteOffset);
  });

  it('gives an owner whose response closed before its body arrived memory of its own', () => {
    const pool = new BodyPool();
    const arena = new SharedArrayBuffer(arenaBytes);
    pool.useArena(arena);
    const gone = {};
    pool.release(gone);
    const body = pool.acquire(gone, 1000);
    expect(body.buffer).not.toBe(arena);
    expect(body.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(pool.stats().arenaBlocks).toBe(0);
  });

  it('beyond the arena lends shared buffers of power-of-two classes, keeping at most its byte cap', () => {
    const pool = new BodyPool(1024 * 1024);
    pool.useArena(new SharedArrayBuffer(256 * 1024));
    const inArena = {};
    pool.acquire(inArena, 200_000);
    const owners = [{}, {}];
    const buffers = owners.map((owner) => pool.acquire(owner, 600_000));
    for (const buffer of buffers) {
      expect(buffer.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(buffer.buffer.byteLength).toBe(1024 * 1024);
    }
    for (const owner of owners) pool.release(owner);
    expect(pool.retainedBytes).toBe(1024 * 1024);
    expect(pool.acquire({}, 700_000).buffer).toBe(buffers[0]!.buffer);
    expect(pool.retainedBytes).toBe(0);
    // Small bodies beyond the arena are not pooled.
    const small = {};
    expect(pool.acquire(small, 100_000).buffer.byteLength).toBe(128 * 1024);
    expect(pool.acquire({}, 63_000).buffer.byteLength).toBe(63_000);
  });

  it('reads a body into a block of its arena', async () => {
    const pool = new BodyPool();
    const arena = new SharedArrayBuffer(arenaBytes);
    pool.useArena(arena);
    const body = Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 13) & 255));
    const req = request({ 'content-length': String(body.length), 'inference-header-content-length': '5' }, [body.subarray(0, 9), body.subarray(9)]);
    const got = await new Promise<Buffer>((resolve, reject) => readBody(req, { maxBodyBytes: 1 << 20, maxJsonBodyBytes: 1 << 20 }, (error, b) => (error ? reject(error) : resolve(b!)), pool));
    expect(got.equals(body)).toBe(true);
    expect(got.buffer).toBe(arena);
    expect(pool.stats().arenaBytesInUse).toBe(Math.ceil(70_001 / arenaAlignment) * arenaAlignment);
    pool.release(req);
    expect(pool.stats().arenaBytesInUse).toBe(0);
  });
});
