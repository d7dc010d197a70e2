/**
 * Runs the float64 reference of cifar-reference.ts on worker threads, the images split between them:
 * the reference is nearly all of cifar.test.ts's time and alone it uses one core. The workers run that
 * same file, transpiled by TypeScript (it has only type imports, so it stands alone), on a plain copy of
 * the model's fields the reference reads; nothing of the library runs in them.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import type { BatchNorm2d } from '../../lib/nn/batchnorm.js';
import type { Conv2d } from '../../lib/nn/conv.js';
import type { CifarResNet } from '../../lib/models/cifar.js';

function workerSource(): string {
  const source = readFileSync(new URL('./cifar-reference.ts', import.meta.url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  return `
const { parentPort } = require('node:worker_threads');
const reference = { exports: {} };
(function (exports, module) {
${outputText}
})(reference.exports, reference);
parentPort.on('message', ({ model, pixels, n, mean, std }) => {
  const logits = reference.exports.cifarResNet(reference.exports.normalizePixels(pixels, n, mean, std), model);
  parentPort.postMessage(logits, [logits.buffer]);
});`;
}

const plainConv = (c: Conv2d) => ({
  kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, inChannels: c.inChannels, outChannels: c.outChannels,
  weight: { data: c.weight.data },
});
const plainBatchNorm = (b: BatchNorm2d) => ({
  eps: b.eps, weight: { data: b.weight.data }, bias: { data: b.bias.data },
  runningMean: { data: b.runningMean.data }, runningVar: { data: b.runningVar.data },
});

/** The fields of `model` that the reference reads, as plain data a worker can receive. */
function plainModel(model: CifarResNet): unknown {
  const layer = (blocks: CifarResNet['layer1']) => [...blocks].map((b) => ({
    stride: b.stride, conv1: plainConv(b.conv1), bn1: plainBatchNorm(b.bn1), conv2: plainConv(b.conv2), bn2: plainBatchNorm(b.bn2),
  }));
  return {
    conv1: plainConv(model.conv1), bn1: plainBatchNorm(model.bn1),
    layer1: layer(model.layer1), layer2: layer(model.layer2), layer3: layer(model.layer3),
    linear: { outFeatures: model.linear.outFeatures, weight: { data: model.linear.weight.data }, bias: { data: model.linear.bias!.data } },
  };
}

/** A few workers, each holding the transpiled reference; `close` ends them. */
export class ReferenceWorkers {
  private readonly workers: Worker[];

  /** `threads` defaults to the cores Node reports, at most 8. */
  constructor(threads = Math.min(availableParallelism(), 8)) {
    const source = workerSource();
    this.workers = Array.from({ length: Math.max(1, threads) }, () => new Worker(source, { eval: true }));
  }

  /**
   * The reference's logits `[n, classes]` for `n` uint8 CHW 32×32 images, normalised with `mean`/`std`:
   * what `cifarResNet(normalizePixels(pixels, n, mean, std), model)` gives, computed in slices of whole images.
   */
  async logits(model: CifarResNet, pixels: Uint8Array, n: number, mean: readonly number[], std: readonly number[]): Promise<Float64Array> {
    const plain = plainModel(model);
    const per = Math.ceil(n / this.workers.length);
    const parts = this.workers.map(async (worker, i) => {
      const start = Math.min(n, i * per);
      const count = Math.min(n, start + per) - start;
      if (count === 0) return new Float64Array(0);
      return new Promise<Float64Array>((resolve, reject) => {
        const onError = (error: Error) => {
          worker.off('message', onMessage);
          reject(error);
        };
        const onMessage = (logits: Float64Array) => {
          worker.off('error', onError);
          resolve(logits);
        };
        worker.once('message', onMessage);
        worker.once('error', onError);
        worker.postMessage({ model: plain, pixels: pixels.slice(start * 3072, (start + count) * 3072), n: count, mean, std });
      });
    });
    const results = await Promise.all(parts);
    const out = new Float64Array(results.reduce((total, r) => total + r.length, 0));
    let offset = 0;
    for (const r of results) {
      out.set(r, offset);
      offset += r.length;
    }
    return out;
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
