/**
 * The server's life cycle: live but not ready before its models load; ready after `start()`; `close()`
 * turns it not-ready, refuses new inferences, finishes queued ones and closes; a model that fails to
 * load fails `start()` and leaves nothing listening; a client that disconnects while queued is cancelled.
 */
import { describe, expect, it } from 'vitest';
import { createServer } from '../../lib/server/index.js';
import { inputValues, jsonInfer, resnet20Server } from '../helpers/server-helpers.js';

describe('server life cycle', () => {
  it('is live but not ready before its models load', async () => {
    const server = resnet20Server();
    try {
      expect(server.ready).toBe(false);
      expect((await server.app.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
      const ready = await server.app.inject({ url: '/v2/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.body).toBe('');
      // Every 503 says when to try again.
      expect(ready.headers['retry-after']).toBe('1');
      const modelReady = await server.app.inject({ url: '/v2/models/resnet20/ready' });
      expect([modelReady.statusCode, modelReady.headers['retry-after']]).toEqual([503, '1']);
      for (const res of [
        await server.app.inject({ url: '/v2/models/resnet20' }),
        await server.app.inject({ method: 'POST', url: '/v2/models/resnet20/infer', payload: jsonInfer(inputValues(1, 1), 1) }),
      ]) {
        expect(res.statusCode).toBe(503);
        expect(res.headers['retry-after']).toBe('1');
        expect(Object.keys(res.json())).toEqual(['error']);
      }
      expect(server.models.size).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('validates its options when created', () => {
    expect(() => createServer({ models: [{ arch: 'resnet20' }], port: -1 })).toThrow(/port/);
    expect(() => createServer({ models: [{ arch: 'resnet20' }], colour: 'blue' } as never)).toThrow(/colour/);
  });

  it('finishes queued requests on close, refuses new ones, then stops listening', async () => {
    const server = resnet20Server({ instanceCount: 1, maxQueueDelayMicroseconds: 300_000 });
    await server.start();
    expect(server.ready).toBe(true);
    const { url } = server.address!;
    const infer = () => fetch(`${url}/v2/models/resnet20/infer`, { method: 'POST', body: jsonInfer(inputValues(1, 2), 1) });
    const queued = [infer(), infer(), infer()];
    // Let them reach the queue (they wait out the 300 ms batching delay there).
    for (let i = 0; i < 100 && server.app.server.listening; i++) {
      const pending = /nv_inference_pending_request_count\{[^}]*\} (\d+)/.exec((await server.app.inject({ url: '/metrics' })).body);
      if (Number(pending?.[1]) === 3) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const closing = server.close();
    expect(server.ready).toBe(false);
    const late = await server.app.inject({ method: 'POST', url: '/v2/models/resnet20/infer', payload: jsonInfer(inputValues(1, 3), 1) });
    expect([late.statusCode, late.headers['retry-after'], late.headers.connection]).toEqual([503, '1', 'close']);
    expect((await server.app.inject({ url: '/v2/health/ready' })).statusCode).toBe(503);
    const statuses = await Promise.all(queued.map(async (p) => (await p).status));
    expect(statuses).toEqual([200, 200, 200]);
    await closing;
    expect(server.app.server.listening).toBe(false);
    await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
  });

  it('fails start() when a model cannot load, leaving nothing listening', async () => {
    const server = createServer({
      models: [{ arch: 'resnet20', name: 'good' }, { arch: 'resnet20', name: 'bad', weights: '/nonexistent/weights.pth' }],
      host: '127.0.0.1', port: 0, logLevel: 'silent',
    });
    await expect(server.start()).rejects.toThrow(/nonexistent/);
    expect(server.ready).toBe(false);
    expect(server.app.server.listening).toBe(false);
  });

  it('cancels a queued request whose client disconnects', async () => {
    const server = resnet20Server({ instanceCount: 1, maxQueueDelayMicroseconds: 5_000_000 });
    await server.start();
    try {
      const model = server.models.get('resnet20')!;
      const calls = model.engineCalls;
      const controller = new AbortController();
      const request = fetch(`${server.address!.url}/v2/models/resnet20/infer`, {
        method: 'POST', body: jsonInfer(inputValues(1, 4), 1), signal: controller.signal,
      });
      const metric = async (pattern: RegExp) => Number(pattern.exec((await server.app.inject({ url: '/metrics' })).body)?.[1] ?? 0);
      const pending = /nv_inference_pending_request_count\{[^}]*\} (\d+)/;
      for (let i = 0; i < 200 && (await metric(pending)) !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await metric(pending)).toBe(1);
      controller.abort();
      await expect(request).rejects.toThrow();
      const canceled = /nv_inference_request_failure\{model="resnet20",version="1",reason="CANCELED"\} (\d+)/;
      for (let i = 0; i < 200 && (await metric(canceled)) !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await metric(canceled)).toBe(1);
      expect(await metric(pending)).toBe(0);
      expect(model.engineCalls).toBe(calls);
      // The client's spare keep-alive connection must not hold the shutdown (undici drops it after 4 s).
      const closeStarted = performance.now();
      await server.close();
      expect(performance.now() - closeStarted).toBeLessThan(2000);
    } finally {
      await server.close();
    }
  });
});
