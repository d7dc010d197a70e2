/**
 * `resnet bench`: throughput and latency of a model on this machine, on the CPU or a GPU in any compute
 * dtype, optionally side by side with onnxruntime-node running the same weights (exported to ONNX) with
 * the same thread count. The two engines alternate run by run, so drift on a shared machine hits both
 * equally; figures are medians. Times are host to host (input to the device, forward, outputs back). Our
 * input lives in memory the engine reads in place (`model.allocateInput`: pinned on a GPU), as an
 * application that cares for speed holds it, in the dtype and layout asked for (uint8 NHWC pixels: what
 * decoders write; the engine converts them in its first kernel).
 *
 * The onnxruntime comparison is CPU only (onnxruntime-node's npm package ships its CPU provider), so it
 * is refused when the model runs on a GPU: a GPU against a CPU is not a comparison of engines.
 * `scripts/gpu-check.sh` compares the GPU with PyTorch instead.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  setNumThreads, getNumThreads, toOnnxBytes, floatToHalf, Tracer, macsPerSample, manualSeed, type Tensor,
  type ComputeDType, type Device, type DeviceSpec,
} from '../index.js';
import { UnsupportedError } from '../errors.js';
import { formatTable, median, quantile } from './stats.js';
import { buildNamedModel, checkModelName, defaultInputSize } from './model-names.js';
import { startProgress } from './progress.js';

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** A torchvision ImageNet ResNet (`listModels()`) or a CIFAR-10 one (`listCifarModels()`). */
  model: string;
  batches: number[];
  iters: number;
  warmup: number;
  threads?: number;
  /** The side of the square input; default 224 for ImageNet networks, 32 for CIFAR-10 ones. */
  inputSize?: number;
  /** Where our model runs; default `'cpu'`. */
  device?: DeviceSpec;
  /** Our model's compute dtype; default `'float32'`. */
  dtype?: ComputeDType;
  compare?: 'onnxruntime';
  /** Our input's element type; default `float32` (onnxruntime always gets float32). */
  inputDType?: 'float32' | 'float16' | 'uint8';
  /** Our input's layout; default `nchw`. */
  inputLayout?: 'nchw' | 'nhwc';
  json?: boolean;
}

/** One engine at one batch size. */
export interface BenchRow {
  model: string;
  batch: number;
  engine: string;
  /** Where the engine ran (`'auto'` resolved). */
  device: Device;
  /** The engine's compute dtype. */
  dtype: ComputeDType;
  imgPerSec: number;
  msMedian: number;
  msP90: number;
  gflops: number;
  /** Our img/s divided by the competitor's, on our rows when comparing. */
  ratio?: number;
}

type OrtModule = typeof import('onnxruntime-node');

async function loadOnnxRuntime(): Promise<OrtModule> {
  try {
    return await import('onnxruntime-node');
  } catch (cause) {
    throw new UnsupportedError(
      '--compare onnxruntime needs the onnxruntime-node package: install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (its CPU binaries ship in the package)',
      { cause },
    );
  }
}

function randomInput(length: number, seed: number): Float32Array {
  // A fixed LCG keeps both engines on identical, reproducible pixels without touching the model's generator.
  const data = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return data;
}

/**
 * `values` (NCHW, about −1..1) into `x` in its dtype and layout: pixels 0..255 for uint8, halves for float16.
 * Element i of `values` lands at the same image, channel and pixel of `x`.
 */
function fillInput(x: Tensor, values: Float32Array): void {
  const [n, a, b, c] = x.shape as [number, number, number, number];
  const [channels, height, width] = x.layout === 'nhwc' ? [c, a, b] : [a, b, c];
  const data = x.data as Float32Array | Uint16Array | Uint8Array;
  for (let image = 0; image < n; image++)
    for (let k = 0; k < channels; k++)
      for (let p = 0; p < height * width; p++) {
        const source = (image * channels + k) * height * width + p;
        const target = x.layout === 'nhwc' ? (image * height * width + p) * channels + k : source;
        const v = values[source]!;
        data[target] = x.dtype === 'uint8' ? Math.round((v + 1) * 127.5) : x.dtype === 'float16' ? floatToHalf(v) : v;
      }
}

/** Runs the benchmark and returns its rows (also printed as a table unless `json`). */
export async function runBench(options: BenchOptions): Promise<BenchRow[]> {
  checkModelName(options.model);
  if (options.threads !== undefined) setNumThreads(options.threads);
  const threads = getNumThreads();
  manualSeed(0);
  const model = buildNamedModel(options.model, { device: options.device ?? 'cpu', dtype: options.dtype ?? 'float32' });
  if (options.compare === 'onnxruntime' && model.device !== 'cpu') {
    throw new UnsupportedError(
      `--compare onnxruntime runs onnxruntime-node on its CPU provider only, so it is not compared with a model on ${model.device}: use --device cpu to compare the engines on the CPU, or leave out --compare to benchmark the GPU (scripts/gpu-check.sh compares it with PyTorch)`,
    );
  }
  const inputDType = options.inputDType ?? 'float32';
  const inputLayout = options.inputLayout ?? 'nchw';
  if (options.compare === 'onnxruntime' && (inputDType !== 'float32' || inputLayout !== 'nchw')) {
    throw new UnsupportedError(`--compare onnxruntime feeds both engines the same float32 NCHW input: leave out --input-dtype ${inputDType} / --input-layout ${inputLayout}`);
  }
  const size = options.inputSize ?? defaultInputSize(options.model);
  const sample = [3, size, size];
  const macs = macsPerSample(Tracer.trace(model, sample));
  const ort = options.compare === 'onnxruntime' ? await loadOnnxRuntime() : undefined;
  const session = ort
    ? await ort.InferenceSession.create(toOnnxBytes(model, { inputShape: sample, dynamicBatch: true }), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // onnxruntime's workers spin after a run; interleaved in one process they would still be spinning
        // on our cores during our timed run (measured: resnet18 batch 1 went from 11.5 to 20 ms). This stops
        // the spinning when its run ends and keeps it during its run, so its own speed is untouched.
        extra: { session: { force_spinning_stop: '1' } },
      })
    : undefined;

  const rows: BenchRow[] = [];
  const steps = options.batches.length * (options.warmup + options.iters);
  const progress = startProgress(steps, `${options.model}`);
  let done = 0;
  try {
    for (const batch of options.batches) {
      const data = randomInput(batch * 3 * size * size, batch);
      const x = model.allocateInput(batch, { dtype: inputDType, layout: inputLayout, size });
      fillInput(x, data);
      const feeds = ort ? { input: new ort.Tensor('float32', data, [batch, ...sample]) } : undefined;
      const times: { ours: number[]; ort: number[] } = { ours: [], ort: [] };
      for (let i = 0; i < options.warmup + options.iters; i++) {
        const label = `${options.model} batch ${batch}: ${i < options.warmup ? 'warm-up' : 'run'} ${i + 1}/${options.warmup + options.iters}`;
        progress.update(done, label);
        let t0 = performance.now();
        await model.forward(x);
        const ours = performance.now() - t0;
        let theirs = NaN;
        if (session && feeds) {
          t0 = performance.now();
          await session.run(feeds);
          theirs = performance.now() - t0;
        }
        if (i >= options.warmup) {
          times.ours.push(ours);
          if (session) times.ort.push(theirs);
        }
        progress.update(++done);
      }
      const row = (engine: string, device: Device, dtype: ComputeDType, ms: number[]): BenchRow => {
        const m = median(ms);
        return {
          model: options.model,
          batch,
          engine,
          device,
          dtype,
          imgPerSec: (batch * 1000) / m,
          msMedian: m,
          msP90: quantile(ms, 0.9),
          gflops: (2 * macs * batch) / (m * 1e6),
        };
      };
      const ours = row(`resnet-cudnn (${model.device})`, model.device, model.dtype, times.ours);
      rows.push(ours);
      if (session) {
        const theirs = row(`onnxruntime-node ${ort!.env.versions.common}`, 'cpu', 'float32', times.ort);
        ours.ratio = ours.imgPerSec / theirs.imgPerSec;
        rows.push(theirs);
      }
    }
  } finally {
    progress.stop();
    await session?.release();
  }
  if (!options.json) {
    const where = model.device === 'cpu' ? `cpu, ${threads} thread(s)` : model.device;
    const fellBack = options.dtype !== undefined && options.dtype !== model.dtype ? `, not ${options.dtype}: no usable GPU` : '';
    const picked = options.device === 'auto' ? ` (taken by --device auto${fellBack})` : '';
    console.log(
      `${options.model}, ${size}x${size}, ${model.dtype} on ${where}${picked}, input ${inputDType} ${inputLayout} in engine memory, ${options.iters} timed runs after ${options.warmup} warm-up (medians${session ? ', engines interleaved; onnxruntime spins only during its own runs' : ''})`,
    );
    console.log(
      formatTable(
        ['model', 'batch', 'engine', 'img/s', 'ms median', 'ms p90', 'GFLOP/s', 'ratio'],
        rows.map((r) => [
          r.model,
          r.batch,
          r.engine,
          r.imgPerSec.toFixed(2),
          r.msMedian.toFixed(1),
          r.msP90.toFixed(1),
          r.gflops.toFixed(1),
          r.ratio === undefined ? '' : `${r.ratio.toFixed(3)}x`,
        ]),
      ),
    );
  }
  return rows;
}
