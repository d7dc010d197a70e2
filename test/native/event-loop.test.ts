// The forward runs off the JS thread: the event loop keeps turning through a long run, concurrent runs
// queue and each gives the answer a sequential run gives, and the addon's lifecycle (workers, idle
// processes, exit during a run) ends cleanly.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { convStack, wave } from '../helpers/graph-builders.js';
import type { Graph } from '../../lib/compile/graph.js';
import { compileGraph } from '../../lib/runtime/engine.js';

const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'resnet_cudnn.node');

describe('event loop', () => {
  it('keeps firing timers on time while two large forwards run, and concurrent runs match sequential ones', async () => {
    const batch = 8;
    // Sized to take well over 500 ms on a quiet 2-core machine (20 layers took 495 ms there: too close).
    using executable = await compileGraph(convStack(32, 64, 112), { backend: 'cpu', batch });
    const first = wave(batch * 3 * 112 * 112, 0.001);
    const second = wave(batch * 3 * 112 * 112, 0.0023);

    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const start = performance.now();
    const [[concurrentFirst], [concurrentSecond]] = await Promise.all([executable.run(first), executable.run(second)]);
    const elapsed = performance.now() - start;
    clearInterval(timer);

    expect(elapsed).toBeGreaterThan(500); // long enough for the timer to mean something
    expect(maxGap).toBeLessThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 100);

    const [sequentialFirst] = await executable.run(first);
    const [sequentialSecond] = await executable.run(second);
    expect(concurrentFirst).toEqual(sequentialFirst);
    expect(concurrentSecond).toEqual(sequentialSecond);
    expect(concurrentFirst).not.toEqual(concurrentSecond);
  });
});

// Plain CommonJS run in workers and child processes against the built addon, without the TS wrapper.
const smallGraphSource = `
  const graph = {
    values: [{ shape: [3, 16, 16] }, { shape: [8, 16, 16] }],
    input: 0, outputs: [1],
    ops: [{ op: 'conv', src: 0, dst: 1, residual: -1, relu: false, outChannels: 8, kernel: [3, 3], stride: [1, 1],
            padding: [1, 1], dilation: [1, 1], groups: 1,
            weight: Float32Array.from({ length: 8 * 3 * 9 }, (_, i) => Math.cos(i)), bias: new Float32Array(8) }],
  };
  const input = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i));
`;

function runNode(source: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['-e', source], { env: { ...process.env, ADDON: addonPath }, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

describe('lifecycle', () => {
  it('runs in a worker thread with the same result as on the main thread', async () => {
    const graph = new Function(`${smallGraphSource}; return { graph, input };`)() as { graph: Graph; input: Float32Array };
    using executable = await compileGraph(graph.graph, { backend: 'cpu', batch: 1 });
    const [expected] = await executable.run(graph.input);
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const addon = require(process.env.ADDON);
       ${smallGraphSource}
       addon.compile(graph, { backend: 'cpu', batch: 1 })
         .then((e) => e.run(input))
         .then(([out]) => parentPort.postMessage(out), (err) => parentPort.postMessage(String(err)));`,
      { eval: true, env: { ...process.env, ADDON: addonPath } },
    );
    const fromWorker = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(fromWorker).toEqual(expected);
  });

  it('terminates a worker in the middle of a long run while the main thread keeps using the addon', async () => {
    using executable = await compileGraph(convStack(4, 32, 64), { backend: 'cpu', batch: 2 });
    const input = wave(2 * 3 * 64 * 64, 0.01);
    const [before] = await executable.run(input);
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const addon = require(process.env.ADDON);
       const values = [{ shape: [64, 112, 112] }]; const ops = [];
       for (let i = 0; i < 20; i++) {
         values.push({ shape: [64, 112, 112] });
         ops.push({ op: 'conv', src: i, dst: i + 1, residual: -1, relu: true, outChannels: 64, kernel: [3, 3], stride: [1, 1],
                    padding: [1, 1], dilation: [1, 1], groups: 1, weight: new Float32Array(64 * 64 * 9).fill(0.001), bias: new Float32Array(64) });
       }
       addon.compile({ values, input: 0, outputs: [20], ops }, { backend: 'cpu', batch: 4 }).then((e) => {
         e.run(new Float32Array(4 * 64 * 112 * 112));
         e.run(new Float32Array(4 * 64 * 112 * 112));
         parentPort.postMessage('running');
       });`,
      { eval: true, env: { ...process.env, ADDON: addonPath } },
    );
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const exitCode = await worker.terminate(); // its cleanup drops the queued run and waits for the running one
    expect(exitCode).toBe(1);
    const [after] = await executable.run(input);
    expect(after).toEqual(before);
  });

  it('lets a process with an idle executable exit on its own', () => {
    const result = runNode(`
      const addon = require(process.env.ADDON);
      ${smallGraphSource}
      addon.compile(graph, { backend: 'cpu', batch: 1 }).then((e) => e.run(input)).then(([out]) => {
        globalThis.keep = out; // the executable stays undisposed and reachable
        console.log('ran', out.length);
      });
    `);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('ran 2048');
    expect(result.status).toBe(0);
  });

  it('exits cleanly when process.exit() comes during a run', () => {
    const result = runNode(`
      const addon = require(process.env.ADDON);
      ${smallGraphSource}
      addon.compile(graph, { backend: 'cpu', batch: 1 }).then((e) => {
        for (let i = 0; i < 50; i++) e.run(input);
        setTimeout(() => process.exit(3), 1);
      });
    `);
    expect(result.signal).toBeNull();
    expect(result.status).toBe(3);
  });
});
