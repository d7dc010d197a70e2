/**
 * PyTorch as a competitor of `resnet bench`: the same torchvision network with the same weights, timed by
 * python/bench_pytorch.py (shipped in the package) in a Python process of its own. The weights travel as
 * safetensors, the check input as raw float32 and the request as JSON, all in a temporary folder; the answer
 * is one JSON object on the script's stdout (everything torch prints goes to its stderr).
 *
 * The Python is `RESNET_CUDNN_PYTHON`, else `python3` on PATH. Without it, or without torch/torchvision (or
 * CUDA where ours runs on a GPU), {@link PyTorchUnavailableError} says what to install; any other failure,
 * a time limit passed or an unreadable answer is a {@link PyTorchError} carrying the end of Python's stderr.
 * Python runs in its own process group, killed whole at the limit (torch.compile's workers too).
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PyTorchError, PyTorchUnavailableError } from '../errors.js';
import { saveSafetensors, type StateDict } from '../io/safetensors.js';
import type { ComputeDType } from '../runtime/device.js';
import { defaultWaitPolicy } from '../runtime/native.js';

/** The script, two folders above this module in the source tree and in dist/ alike. */
export const pytorchBenchScript = fileURLToPath(new URL('../../python/bench_pytorch.py', import.meta.url));

/** The exit status bench_pytorch.py gives when torch, torchvision or CUDA is missing. */
const missingStatus = 3;

/** How to get PyTorch, for the messages. */
export const pytorchInstallHint =
  'install it into that Python: `pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu` for the CPU, ' +
  'or `pip install torch torchvision` for NVIDIA GPUs (Linux wheels on PyPI are CUDA builds; other CUDA versions: https://pytorch.org/get-started/locally/); ' +
  'RESNET_CUDNN_PYTHON names the Python to use (default: python3 on PATH)';

/** What {@link runPyTorchBench} times and checks. */
export interface PyTorchBenchRequest {
  /** A torchvision ResNet name. */
  model: string;
  /** The weights, loaded strictly into torchvision's model. */
  weights: StateDict;
  /** Float32 NCHW pixels of shape `checkShape`: the logits' input, and the first batch size's timed input. */
  checkInput: Float32Array;
  checkShape: readonly [number, 3, number, number];
  size: number;
  batches: readonly number[];
  warmup: number;
  iters: number;
  threads: number;
  /** `'cpu'` or `'cuda:N'`. */
  device: string;
  dtype: ComputeDType;
  /** Time torch.compile after eager (default true). */
  compile?: boolean;
  /** Test seam: `'builtin'` makes the script read safetensors itself instead of with the safetensors package. */
  weightsLoader?: 'auto' | 'builtin';
}

/** One batch size of one PyTorch engine. */
export interface PyTorchTiming {
  batch: number;
  /** The first call (torch.compile compiles there), not counted in the timed runs. */
  firstMs: number;
  timesMs: number[];
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
}

/** One PyTorch engine: its timings and its logits for the check input. */
export interface PyTorchEngineResult {
  timings: PyTorchTiming[];
  logits: Float32Array;
}

/** torch.compile's outcome: timed, turned off, or failed (eager still counts). */
export type PyTorchCompileResult =
  | ({ status: 'ok'; mode: string; seconds: number; /** Inductor's freezing (on for the CPU). */ freezing: boolean } & PyTorchEngineResult)
  | { status: 'off' }
  | { status: 'failed'; mode: string; reason: string; seconds: number };

/** What bench_pytorch.py measured, with the versions it ran. */
export interface PyTorchBenchResult {
  python: string;
  executable: string;
  torch: string;
  torchvision: string;
  device: string;
  /** The GPU's name on CUDA; null on the CPU. */
  deviceName: string | null;
  threads: number;
  /** OMP_WAIT_POLICY in Python's environment (ours, unless the user set GOMP_SPINCOUNT instead). */
  ompWaitPolicy: string | null;
  dtype: ComputeDType;
  channelsLast: boolean;
  /** Which reader loaded the weights: the safetensors package or the script's own. */
  weightsLoader: 'safetensors' | 'builtin';
  eager: PyTorchEngineResult;
  compile: PyTorchCompileResult;
}

/** Options of {@link runPyTorchBench}. */
export interface PyTorchRunOptions {
  /** The Python to run; default `RESNET_CUDNN_PYTHON`, else `python3`. */
  python?: string;
  /** Time limit for the whole run; default 15 minutes (torch.compile on a small CPU takes minutes). */
  timeoutMs?: number;
}

/** The Python `--compare pytorch` runs: `RESNET_CUDNN_PYTHON`, else `python3`. */
export function pythonCommand(): string {
  return process.env.RESNET_CUDNN_PYTHON || 'python3';
}

const tailBytes = 4000;

/** The last lines of `text`, at most {@link tailBytes} characters. */
function tail(text: string): string {
  if (text.length <= tailBytes) return text.trimEnd();
  const cut = text.slice(-tailBytes);
  return `…${cut.slice(cut.indexOf('\n') + 1)}`.trimEnd();
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Python's environment: ours, with the OpenMP wait policy our engine runs with (PyTorch's CPU wheels use
 * libgomp too). Ours sets it when the addon loads, which may come after PyTorch has run; left to libgomp's
 * default, PyTorch's idle threads spin, which on a busy machine made its resnet18 forward 3-20 times slower
 * than with ours (measured: 55-80 ms against 240-1900 ms at batch 1, 224x224, on 2 shared vCPUs).
 */
function pythonEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) env.OMP_WAIT_POLICY = defaultWaitPolicy;
  return env;
}

const forwardedSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `python script request` in its own process group; resolves however it ends. */
function runPython(python: string, args: string[], timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(python, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: pythonEnvironment() });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    // Only the tail is kept: torch.compile can print a lot.
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4 * tailBytes)));
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    // A Python left behind by our own exit would keep its cores busy; in its own process group it does not
    // get the terminal's Ctrl-C, so that is passed on, then re-raised with Node's default handling.
    const onSignal = (signal: NodeJS.Signals): void => {
      killGroup();
      removeHandlers();
      process.kill(process.pid, signal);
    };
    const removeHandlers = (): void => {
      process.removeListener('exit', killGroup);
      for (const signal of forwardedSignals) process.removeListener(signal, onSignal);
    };
    process.once('exit', killGroup);
    for (const signal of forwardedSignals) process.once(signal, onSignal);
    child.on('error', (error) => (spawnError = error));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      removeHandlers();
      killGroup(); // inductor's compile workers may outlive the script
      resolve({ code, signal, stdout, stderr, timedOut, spawnError });
    });
  });
}

function float32(values: unknown): Float32Array {
  if (!Array.isArray(values)) throw new TypeError('logits are not an array');
  return Float32Array.from(values as number[]);
}

/** The script's answer with its logits as Float32Arrays; throws on a shape it does not have. */
function parseResult(text: string): PyTorchBenchResult {
  const raw = JSON.parse(text) as PyTorchBenchResult & { eager: { logits: unknown }; compile: { logits?: unknown } };
  if (typeof raw !== 'object' || raw === null || !raw.eager || !Array.isArray(raw.eager.timings) || !raw.compile) {
    throw new TypeError('the answer lacks eager or compile results');
  }
  raw.eager.logits = float32(raw.eager.logits);
  if (raw.compile.status === 'ok') raw.compile.logits = float32(raw.compile.logits);
  return raw;
}

/**
 * Times torchvision's `request.model` with `request.weights` in PyTorch eager and torch.compile, and returns
 * the timings and both engines' logits for `request.checkInput`.
 * @throws PyTorchUnavailableError when there is no Python, torch, torchvision or (for `cuda:N`) CUDA.
 * @throws PyTorchError when the script fails, passes the time limit or answers something unreadable.
 */
export async function runPyTorchBench(request: PyTorchBenchRequest, options: PyTorchRunOptions = {}): Promise<PyTorchBenchResult> {
  const python = options.python ?? pythonCommand();
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const folder = await mkdtemp(path.join(tmpdir(), 'resnet-bench-pytorch-'));
  try {
    const weights = path.join(folder, 'weights.safetensors');
    const input = path.join(folder, 'input.f32');
    const requestFile = path.join(folder, 'request.json');
    await saveSafetensors(weights, request.weights, { format: 'pt' });
    const bytes = new Uint8Array(request.checkInput.buffer, request.checkInput.byteOffset, request.checkInput.byteLength);
    await writeFile(input, bytes); // little-endian: the engine runs on little-endian hosts only
    const { weights: _weights, checkInput: _input, ...rest } = request;
    await writeFile(requestFile, JSON.stringify({ ...rest, weights, checkInput: input, compile: request.compile ?? true }));

    const exit = await runPython(python, [pytorchBenchScript, requestFile], timeoutMs);
    const details = { stderrTail: tail(exit.stderr), exitCode: exit.code };
    if (exit.spawnError) {
      if (exit.spawnError.code === 'ENOENT') {
        throw new PyTorchUnavailableError(`--compare pytorch needs Python with torch and torchvision, but ${python} was not found; ${pytorchInstallHint}`);
      }
      throw new PyTorchError(`could not start ${python}: ${exit.spawnError.message}`, { ...details, cause: exit.spawnError });
    }
    if (exit.timedOut) {
      throw new PyTorchError(
        `PyTorch (${python} ${path.basename(pytorchBenchScript)}) did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped` +
          ` (torch.compile is the slow part: --torch-compile off skips it, --torch-timeout raises the limit); its stderr ended with:\n${details.stderrTail}`,
        details,
      );
    }
    if (exit.code === missingStatus) {
      let message = exit.stdout.trim();
      try {
        message = (JSON.parse(message) as { error: { message: string } }).error.message;
      } catch {
        // keep the raw text
      }
      throw new PyTorchUnavailableError(`--compare pytorch: ${message}; ${pytorchInstallHint}`);
    }
    if (exit.code !== 0) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
      throw new PyTorchError(`PyTorch (${python} ${path.basename(pytorchBenchScript)}) ${how}; its stderr ended with:\n${details.stderrTail}`, details);
    }
    try {
      return parseResult(exit.stdout);
    } catch (cause) {
      throw new PyTorchError(
        `PyTorch (${python} ${path.basename(pytorchBenchScript)}) answered something that is not its result (${(cause as Error).message}): ${JSON.stringify(exit.stdout.slice(0, 200))}`,
        { ...details, cause },
      );
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
