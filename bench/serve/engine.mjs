// @ts-check
/**
 * The engine's own throughput, as `resnet bench --json` measures it (median of timed runs of one
 * `forward` at a time), in a process of its own, while the server is idle (its compute threads asleep).
 * @module
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * @param {{ arch: string; batch: number; threads: number; inputSize: number; device: string; dtype: string; iters: number }} options
 * @returns {Promise<{ imgPerSec: number; msMedian: number; engine: string }>}
 */
export async function engineThroughput(options) {
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
  return { imgPerSec: row.imgPerSec, msMedian: row.msMedian, engine: row.engine };
}
