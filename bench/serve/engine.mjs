// @ts-check
/**
 * The engine's own throughput, as `resnet bench --json` measures it (median of timed runs of one
 * `forward` at a time), in a process of its own, while the server is idle (its compute threads asleep).
 * The input's element type is a parameter: a server fed UINT8 pixels compares with the engine run on
 * UINT8 input, once `resnet bench` takes `--input-dtype uint8`; until then the engine runs on FP32 and
 * the result says so (`note`).
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** @type {boolean | undefined} */
let takesInputDtype;
/** Whether `resnet bench` has an `--input-dtype` flag (asked once, from its help). */
export function benchTakesInputDtype() {
  if (takesInputDtype === undefined) {
    try {
      takesInputDtype = execFileSync(process.execPath, [cli, 'bench', '--help'], { encoding: 'utf8', timeout: 60_000 }).includes('--input-dtype');
    } catch {
      takesInputDtype = false;
    }
  }
  return takesInputDtype;
}

/**
 * @param {{ arch: string; batch: number; threads: number; inputSize: number; device: string; dtype: string; iters: number; input?: 'float32' | 'uint8' }} options
 *   `input`: the element type of the engine's input (default float32)
 * @returns {Promise<{ imgPerSec: number; msMedian: number; engine: string; input: 'float32' | 'uint8'; note: string | null }>}
 */
export async function engineThroughput(options) {
  const wanted = options.input ?? 'float32';
  const input = wanted === 'uint8' && !benchTakesInputDtype() ? 'float32' : wanted;
  const note = input === wanted ? null : 'engine on FP32 input: resnet bench has no --input-dtype uint8 yet';
  const args = [
    cli, 'bench', '--json',
    '--model', options.arch,
    '--batch', String(options.batch),
    '--threads', String(options.threads),
    '--input-size', String(options.inputSize),
    '--device', options.device,
    '--dtype', options.dtype,
    '--iters', String(options.iters),
    '--warmup', '2',
    ...(input === 'uint8' ? ['--input-dtype', 'uint8'] : []),
  ];
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 20, timeout: 600_000 }, (error, out, err) => {
      if (error) reject(new Error(`resnet ${args.slice(1).join(' ')} failed: ${error.message}\n${err}`));
      else resolve(out);
    });
  });
  const rows = JSON.parse(stdout);
  const row = rows.find((/** @type {{ batch: number }} */ r) => r.batch === options.batch);
  if (!row) throw new Error(`resnet bench printed no row for batch ${options.batch}: ${stdout}`);
  return { imgPerSec: row.imgPerSec, msMedian: row.msMedian, engine: row.engine, input, note };
}
