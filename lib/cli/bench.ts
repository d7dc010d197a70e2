/**
 * `resnet bench`: throughput and latency of a model on this machine, on the CPU or a GPU in any compute
 * dtype, optionally side by side with competitors running the same weights with the same thread count:
 * onnxruntime-node (the model exported to ONNX) and PyTorch (torchvision's model, eager and torch.compile,
 * in a Python process of its own: see pytorch.ts). Ours and onnxruntime alternate run by run in this
 * process, so drift on a shared machine hits both equally; PyTorch runs before them, alone. Every engine
 * follows the same rule: `warmup` untimed runs, then `iters` timed ones per batch size; figures are medians
 * (quantiles by linear interpolation). Times are host to host (input to the device, forward, outputs back).
 * Our input lives in memory the engine reads in place (`model.allocateInput`: pinned on a GPU), as an
 * application that cares for speed holds it, in the dtype and layout asked for (uint8 NHWC pixels: what
 * decoders write; the engine converts them in its first kernel).
 *
 * Every engine also runs one fixed float32 input (the first batch size's pixels), and the table gives the
 * relative L2 of each engine's logits against PyTorch eager's (against onnxruntime's without PyTorch).
 *
 * With `--dtype int8`, our model is quantized with `quantize()` on a few random inputs like the timed ones
 * (`int8CalibrationImages` of them, see bench-model.ts; the first being the fixed input below), unless `--weights` is a
 * quantized file (`resnet quantize`), whose scales it then runs. onnxruntime runs two models next to ours:
 * the float32 export and the QDQ export of the same quantized model (`bench-qdq.ts`; every conv and
 * residual add fused into its integer kernels), so the table gives both targets. Where our int8 model
 * cannot run (a backend without int8), its row says so and onnxruntime's rows are still timed.
 *
 * The onnxruntime comparison is CPU only (onnxruntime-node's npm package ships its CPU provider), so it
 * is refused when the model runs on a GPU: a GPU against a CPU is not a comparison of engines. PyTorch
 * runs where ours runs (its CUDA device, or the CPU) in the same dtype.
 * @module
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  setNumThreads, getNumThreads, toOnnxBytes, Tracer, macsPerSample, backendInfo, Tensor,
  type ComputeDType, type Device, type DeviceSpec,
} from '../index.js';
import { PyTorchUnavailableError, UnsupportedError } from '../errors.js';
import { formatTable, median, quantile } from './stats.js';
import { buildNamedModel, checkModelName, defaultInputSize } from './model-names.js';
import { startProgress } from './progress.js';
import { fillInput, randomInput, relativeL2 } from './bench-input.js';
import { runPyTorchBench, type PyTorchBenchResult } from './pytorch.js';
import { loadVega, writeChart, type ChartTitle } from './bench-chart.js';
import { ortInt8Model } from './bench-qdq.js';
import { benchModel, whyOursCannotRun } from './bench-model.js';

/** An engine `resnet bench` can compare ours with. */
export type BenchCompetitor = 'onnxruntime' | 'pytorch';

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
  /**
   * The weights (`.safetensors` or a PyTorch checkpoint; a CIFAR checkpoint's `module.` prefix stripped);
   * default random ones (seeded). A quantized file's scales are what `int8` runs.
   */
  weights?: string;
  /** Competitors, run on the same weights. */
  compare?: BenchCompetitor | readonly BenchCompetitor[];
  /** With `pytorch`: time torch.compile as well as eager (default true). */
  torchCompile?: boolean;
  /** With `pytorch`: the PyTorch process's time limit in seconds (default 900). */
  torchTimeoutS?: number;
  /** Write an SVG chart of img/s by batch size, one series per engine, to this file. */
  chart?: string;
  /** Our input's element type; default `float32` (the competitors always get float32). */
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
  msP10: number;
  msP90: number;
  gflops: number;
  /** On a competitor's rows: our img/s divided by this engine's at the same batch size. */
  ratio?: number;
  /** ‖this engine's logits − the reference's‖ / ‖the reference's‖ on the fixed input (see the module comment). */
  relL2?: number;
  /** Set when the engine could not run (the timings are then NaN, null in --json): why. */
  notRun?: string;
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

/** The competitors asked for, each once, checked against where and how ours runs. */
function checkCompetitors(options: BenchOptions, device: Device, family: string): Set<BenchCompetitor> {
  const asked = new Set(options.compare === undefined ? [] : typeof options.compare === 'string' ? [options.compare] : options.compare);
  const inputDType = options.inputDType ?? 'float32';
  const inputLayout = options.inputLayout ?? 'nchw';
  for (const engine of asked) {
    if (engine !== 'onnxruntime' && engine !== 'pytorch') throw new UnsupportedError(`--compare takes onnxruntime and pytorch, not ${JSON.stringify(engine)}`);
    if (inputDType !== 'float32' || inputLayout !== 'nchw') {
      throw new UnsupportedError(`--compare ${engine} feeds both engines the same float32 NCHW input: leave out --input-dtype ${inputDType} / --input-layout ${inputLayout}`);
    }
  }
  if (asked.has('onnxruntime') && device !== 'cpu') {
    throw new UnsupportedError(
      `--compare onnxruntime runs onnxruntime-node on its CPU provider only, so it is not compared with a model on ${device}: use --device cpu to compare the engines on the CPU, or --compare pytorch to compare the GPU with PyTorch`,
    );
  }
  if (asked.has('pytorch') && family !== 'imagenet') {
    throw new UnsupportedError(`--compare pytorch builds the model from torchvision, which has no CIFAR-10 ResNets: use a torchvision network (resnet18 … wide_resnet101_2)`);
  }
  return asked;
}

/** The chart's heading: the model, its dtype and device, and the processor by name. */
function chartTitle(model: string, size: number, dtype: ComputeDType, device: Device, threads: number): ChartTitle {
  const processor =
    device === 'cpu' ? `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${threads} thread(s)` : (() => {
      const cuda = backendInfo().backends.cuda;
      return cuda.available ? cuda.deviceName : device;
    })();
  return { text: `${model} ${size}×${size}, ${dtype} on ${device}`, subtitle: `${processor}; img/s by batch size, medians` };
}

/** Runs the benchmark and returns its rows (also printed as a table unless `json`). */
export async function runBench(options: BenchOptions): Promise<BenchRow[]> {
  const family = checkModelName(options.model);
  if (options.threads !== undefined) setNumThreads(options.threads);
  const threads = getNumThreads();
  const inputDType = options.inputDType ?? 'float32';
  const inputLayout = options.inputLayout ?? 'nchw';
  const size = options.inputSize ?? defaultInputSize(options.model);
  const sample = [3, size, size];
  const checkShape = [options.batches[0]!, 3, size, size] as const;
  const checkInput = randomInput(checkShape[0] * 3 * size * size, checkShape[0]);
  const { model, scales } = await benchModel(options, family, sample);
  const competitors = checkCompetitors(options, model.device, family);
  if (options.chart) await loadVega();
  const macs = macsPerSample(Tracer.trace(model, sample));

  let torch: PyTorchBenchResult | undefined;
  if (competitors.has('pytorch')) {
    const progress = startProgress(1, `${options.model}: PyTorch (eager${options.torchCompile === false ? '' : ', torch.compile'}) in its own process`);
    try {
      torch = await runPyTorchBench(
        {
          model: options.model, weights: model.stateDict(), checkInput, checkShape, size, batches: options.batches,
          warmup: options.warmup, iters: options.iters, threads, device: model.device, dtype: model.dtype,
          compile: options.torchCompile ?? true,
        },
        { timeoutMs: (options.torchTimeoutS ?? 900) * 1000 },
      );
    } catch (error) {
      if (!(error instanceof PyTorchUnavailableError)) throw error;
      console.error(`resnet bench: PyTorch is left out: ${error.message}`);
    } finally {
      progress.stop();
    }
  }

  const ort = competitors.has('onnxruntime') ? await loadOnnxRuntime() : undefined;
  const ortSession = async (bytes: Uint8Array) =>
    ort!.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // onnxruntime's workers spin after a run; interleaved in one process they would still be spinning
      // on our cores during our timed run (measured: resnet18 batch 1 went from 11.5 to 20 ms). This stops
      // the spinning when its run ends and keeps it during its run, so its own speed is untouched.
      extra: { session: { force_spinning_stop: '1' } },
    });
  const floatModel = model.dtype === 'int8' ? buildNamedModel(options.model, { device: 'cpu' }) : model;
  if (floatModel !== model) floatModel.loadStateDict(model.stateDict());
  const session = ort ? await ortSession(toOnnxBytes(floatModel, { inputShape: sample, dynamicBatch: true })) : undefined;
  // int8: onnxruntime's QDQ model, quantized as ours (calibrated on the fixed input where ours has no quantization).
  const int8 = ort && model.dtype === 'int8' ? await ortInt8Model(ort, model, sample, checkInput, checkShape[0], threads) : undefined;
  const int8Session = int8 ? await ortSession(int8.bytes) : undefined;
  const oursNotRun = await whyOursCannotRun(model, sample);

  const rows: BenchRow[] = [];
  const logits = new Map<string, Float32Array>();
  const steps = options.batches.length * (options.warmup + options.iters);
  const progress = startProgress(steps, `${options.model}`);
  let done = 0;
  const row = (batch: number, engine: string, device: Device, dtype: ComputeDType, ms: readonly number[]): BenchRow => {
    const m = median(ms);
    return {
      model: options.model, batch, engine, device, dtype,
      imgPerSec: (batch * 1000) / m,
      msMedian: m,
      msP10: quantile(ms, 0.1),
      msP90: quantile(ms, 0.9),
      gflops: (2 * macs * batch) / (m * 1e6),
    };
  };
  const ours = `resnet-cudnn (${model.device})`;
  const ortName = ort ? `onnxruntime-node ${ort.env.versions.common}` : '';
  const ortInt8Name = `${ortName} int8 QDQ`;
  try {
    for (const batch of options.batches) {
      const data = batch === checkShape[0] ? checkInput : randomInput(batch * 3 * size * size, batch);
      const x = model.allocateInput(batch, { dtype: inputDType, layout: inputLayout, size });
      fillInput(x, data);
      const feeds = ort ? { input: new ort.Tensor('float32', data, [batch, ...sample]) } : undefined;
      const times: { ours: number[]; ort: number[]; int8: number[] } = { ours: [], ort: [], int8: [] };
      for (let i = 0; i < options.warmup + options.iters; i++) {
        const label = `${options.model} batch ${batch}: ${i < options.warmup ? 'warm-up' : 'run'} ${i + 1}/${options.warmup + options.iters}`;
        progress.update(done, label);
        let t0 = performance.now();
        if (!oursNotRun) await model.forward(x);
        const oursMs = oursNotRun ? NaN : performance.now() - t0;
        let theirs = NaN;
        let theirsInt8 = NaN;
        if (session && feeds) {
          t0 = performance.now();
          await session.run(feeds);
          theirs = performance.now() - t0;
        }
        if (int8Session && feeds) {
          t0 = performance.now();
          await int8Session.run(feeds);
          theirsInt8 = performance.now() - t0;
        }
        if (i >= options.warmup) {
          times.ours.push(oursMs);
          if (session) times.ort.push(theirs);
          if (int8Session) times.int8.push(theirsInt8);
        }
        progress.update(++done);
      }
      const batchRows = [{ ...row(batch, ours, model.device, model.dtype, times.ours), ...(oursNotRun ? { notRun: oursNotRun } : {}) }];
      if (session) batchRows.push(row(batch, ortName, 'cpu', 'float32', times.ort));
      if (int8Session) batchRows.push(row(batch, ortInt8Name, 'cpu', 'int8', times.int8));
      for (const [engine, result] of torch ? torchEngines(torch) : []) {
        const timing = result.timings.find((t) => t.batch === batch);
        if (timing) batchRows.push(row(batch, engine, model.device, model.dtype, timing.timesMs));
      }
      if (!oursNotRun) for (const r of batchRows.slice(1)) r.ratio = batchRows[0]!.imgPerSec / r.imgPerSec;
      rows.push(...batchRows);
    }
    if (torch || session) {
      // Every engine's logits for the fixed input, in float32 NCHW (not our timed input's dtype/layout).
      const input = Tensor.from(checkInput, [...checkShape]);
      if (!oursNotRun) logits.set(ours, (await model.forward(input)).toFloat32().data);
      for (const [name, s] of [[ortName, session], [ortInt8Name, int8Session]] as const) {
        if (!s || !ort) continue;
        const out = await s.run({ input: new ort.Tensor('float32', checkInput, [...checkShape]) });
        logits.set(name, Float32Array.from(Object.values(out)[0]!.data as Float32Array));
      }
      for (const [engine, result] of torch ? torchEngines(torch) : []) logits.set(engine, result.logits);
    }
  } finally {
    progress.stop();
    await session?.release();
    await int8Session?.release();
  }

  const reference = torch ? torchEngines(torch)[0]![0] : session ? ortName : undefined;
  const referenceLogits = reference === undefined ? undefined : logits.get(reference);
  if (referenceLogits) {
    for (const r of rows) {
      const mine = logits.get(r.engine);
      if (mine && r.engine !== reference) r.relL2 = relativeL2(mine, referenceLogits);
    }
  }
  if (options.chart) await writeChart(options.chart, rows, chartTitle(options.model, size, model.dtype, model.device, threads));
  if (!options.json) {
    printTable(options, rows, { threads, size, inputDType, inputLayout, device: model.device, dtype: model.dtype, torch, reference, checkBatch: checkShape[0] });
    if (scales) console.log(`${ours} int8: ${scales}`);
    if (oursNotRun) console.log(`${ours} ${model.dtype}: not run: ${oursNotRun}`);
    if (int8) {
      console.log(
        `${ortInt8Name}: the QDQ export with every conv and residual add fused (QLinearConv, QLinearAdd); ${int8.calibratedHere ? 'scales from a minmax calibration on the fixed input (our model has no quantization)' : 'our model\'s scales, with the residual convs\' pre-add ranges calibrated on the fixed input'}`,
      );
    }
  }
  return rows;
}

/** PyTorch's engines that ran: eager, then torch.compile when it was timed. */
function torchEngines(torch: PyTorchBenchResult): [string, { timings: { batch: number; timesMs: number[] }[]; logits: Float32Array }][] {
  const engines: [string, PyTorchBenchResult['eager']][] = [[`pytorch ${torch.torch} eager`, torch.eager]];
  if (torch.compile.status === 'ok') engines.push([`pytorch ${torch.torch} torch.compile`, torch.compile]);
  return engines;
}

interface TableContext {
  threads: number;
  size: number;
  inputDType: string;
  inputLayout: string;
  device: Device;
  dtype: ComputeDType;
  torch: PyTorchBenchResult | undefined;
  reference: string | undefined;
  checkBatch: number;
}

function printTable(options: BenchOptions, rows: readonly BenchRow[], c: TableContext): void {
  const where = c.device === 'cpu' ? `cpu, ${c.threads} thread(s)` : c.device;
  const fellBack = options.dtype !== undefined && options.dtype !== c.dtype ? `, not ${options.dtype}: see the warning above` : '';
  const picked = options.device === 'auto' ? ` (taken by --device auto${fellBack})` : '';
  const interleaved = rows.some((r) => r.engine.startsWith('onnxruntime')) ? ', ours and onnxruntime interleaved; onnxruntime spins only during its own runs' : '';
  console.log(
    `${options.model}, ${c.size}x${c.size}, ${c.dtype} on ${where}${picked}, input ${c.inputDType} ${c.inputLayout} in engine memory, ${options.iters} timed runs after ${options.warmup} warm-up (medians${interleaved})`,
  );
  if (c.torch) {
    const compile = c.torch.compile;
    const note =
      compile.status === 'ok'
        ? `torch.compile (${compile.mode}${compile.freezing ? ', freezing' : ''}) compiled and ran in ${compile.seconds.toFixed(1)} s`
        : compile.status === 'off' ? 'torch.compile off' : `torch.compile failed: ${compile.reason.split('\n')[0]}`;
    console.log(
      `PyTorch ${c.torch.torch} (torchvision ${c.torch.torchvision}, Python ${c.torch.python}) ran first in its own process, ${c.torch.threads} thread(s)${c.torch.ompWaitPolicy ? ` (OMP_WAIT_POLICY=${c.torch.ompWaitPolicy})` : ''}, weights read by ${c.torch.weightsLoader === 'safetensors' ? 'the safetensors package' : 'its own safetensors reader'}${c.torch.channelsLast ? ', channels_last' : ''}; ${note}`,
    );
  }
  const hasRel = rows.some((r) => r.relL2 !== undefined);
  console.log(
    formatTable(
      ['model', 'batch', 'engine', 'img/s', 'ms median', 'ms p90', 'GFLOP/s', 'ratio', ...(hasRel ? ['rel L2'] : [])],
      rows.map((r) => [
        r.model,
        r.batch,
        r.notRun ? `${r.engine}: not run` : r.engine,
        r.notRun ? '-' : r.imgPerSec.toFixed(2),
        r.notRun ? '-' : r.msMedian.toFixed(1),
        r.notRun ? '-' : r.msP90.toFixed(1),
        r.notRun ? '-' : r.gflops.toFixed(1),
        r.ratio === undefined ? '' : `${r.ratio.toFixed(3)}x`,
        ...(hasRel ? [r.relL2 === undefined ? (r.engine === c.reference ? 'ref' : '') : r.relL2.toExponential(1)] : []),
      ]),
    ),
  );
  if (rows.some((r) => r.ratio !== undefined)) console.log(`ratio: our img/s over that engine's at the same batch size (above 1: ours is faster)`);
  if (hasRel) console.log(`rel L2: ‖logits − ${c.reference}'s‖ / ‖${c.reference}'s‖ on one fixed float32 input of batch ${c.checkBatch}`);
}
