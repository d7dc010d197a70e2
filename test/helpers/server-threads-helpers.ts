/**
 * Helpers of the HTTP-thread tests: the server from the compiled `dist/` (an HTTP thread runs the compiled
 * thread script, so the whole server is taken from there: one copy of every module), raw HTTP requests on
 * connections of their own (node:http, so the tests see every status, header and byte, and can cut a
 * connection), a gate on a model's batches, and counters read from /metrics.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import type { InferenceServer, ServerOptions } from '../../lib/server/index.js';
import type { ServedModel } from '../../lib/server/served-model.js';
import { dataPath, missingData } from './test-data.js';

const threadScript = fileURLToPath(new URL('../../dist/server/http-thread.js', import.meta.url));
export const checkpoint = dataPath('cifar10-resnets', 'resnet20-12fca82f.th');

/** Why the HTTP-thread tests cannot run here, or null when they can. */
export const skipReason: string | null = !existsSync(threadScript)
  ? 'dist/ is not built (npm run build:ts): an HTTP thread runs the compiled thread script'
  : missingData(checkpoint);

/** `createServer` of the compiled package. */
export async function distCreateServer(): Promise<(options: ServerOptions) => InferenceServer> {
  const module = (await import(fileURLToPath(new URL('../../dist/server/index.js', import.meta.url)))) as typeof import('../../lib/server/index.js');
  return module.createServer;
}

/** The addon's count of host-memory ranges lent to runs, process-wide (the compiled package's addon). */
export async function hostMemoryRanges(): Promise<number> {
  const native = (await import(fileURLToPath(new URL('../../dist/runtime/native.js', import.meta.url)))) as typeof import('../../lib/runtime/native.js');
  return native.loadNative().hostMemoryRanges();
}

/** An answer as it came off the wire. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** What to send. */
export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Send the body in chunks without Content-Length. */
  chunked?: boolean;
}

/**
 * Sends `request` to `server` (or the server at a URL) on `agent` (default: a connection of its own) and
 * reads the whole answer.
 */
export function send(server: InferenceServer | string, request: RawRequest, agent: http.Agent | false = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
    const headers: Record<string, string> = { ...request.headers };
    if (body !== undefined && !request.chunked) headers['content-length'] = String(body.length);
    const base = typeof server === 'string' ? server : server.address!.url;
    const req = http.request(`${base}${request.path}`, { method: request.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined && request.chunked) {
      for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.subarray(at, at + 16 * 1024));
    } else if (body !== undefined) {
      req.write(body);
    }
    req.end();
  });
}

/**
 * Sends `request` on a connection of its own and returns a function that cuts that connection (the client
 * goes away), once the request has been written whole.
 */
export async function sendThenCut(server: InferenceServer, request: RawRequest): Promise<{ cut: () => void; outcome: Promise<unknown> }> {
  const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body ?? Buffer.alloc(0);
  const req = http.request(`${server.address!.url}${request.path}`, {
    method: request.method ?? 'POST', headers: { ...request.headers, 'content-length': String(body.length) }, agent: false,
  });
  const outcome = new Promise((resolve) => {
    req.on('response', (res) => resolve(res.statusCode));
    req.on('error', (error) => resolve(error));
  });
  await new Promise<void>((resolve) => req.end(body, () => resolve()));
  return { cut: () => req.destroy(), outcome };
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/**
 * Makes `model`'s next batch wait for `open()` once it has started (`started`); `inputs` are the segments it
 * was given (views on the bodies, in place).
 */
export function holdNextBatch(model: ServedModel): { started: Promise<void>; segments: () => Uint8Array[]; open: () => void; done: Promise<void>; restore: () => void } {
  const original = model.run.bind(model);
  const started = deferred();
  const gate = deferred();
  const done = deferred();
  let segments: Uint8Array[] = [];
  const spy = vi.spyOn(model, 'run').mockImplementationOnce(async (...args) => {
    segments = args[0].flatMap((input) => [...input.segments]);
    started.resolve();
    await gate.promise;
    try {
      return await original(...args);
    } finally {
      done.resolve();
    }
  });
  return { started: started.promise, segments: () => segments, open: gate.resolve, done: done.promise, restore: () => spy.mockRestore() };
}

/** A sample of /metrics (`name{labels} value`, or `name value` without labels), read through the server's own HTTP. */
export async function metric(server: InferenceServer, name: string, labels: string, token?: string): Promise<number> {
  const res = await send(server, { path: '/metrics', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = res.body.toString().split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}
