#!/usr/bin/env node
/**
 * The parser fuzzer's command line. Runs each target (pickle, zip, torch, safetensors) in a worker
 * thread against the built `dist/`, watches for hangs and out-of-memory deaths, saves every finding
 * under `fuzz/findings/` and prints a summary. See fuzz/README.md.
 *
 *   npm run build:ts && node fuzz/run.mjs --inputs 1000000 --seed 1 --jobs 2
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { defaults } from './engine.mjs';
import { maxInputBytes } from './mutate.mjs';
import { targetNames } from './targets.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' }, // in total, split evenly across the targets
    targets: { type: 'string', default: targetNames.join(',') },
    seed: { type: 'string', default: '1' },
    jobs: { type: 'string', default: '1' },
    'time-limit-ms': { type: 'string', default: String(defaults.timeLimitMs) },
    'hang-ms': { type: 'string', default: '10000' },
    'heap-mb': { type: 'string', default: '1024' },
    findings: { type: 'string', default: join(here, 'findings') },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: node fuzz/run.mjs [--inputs N] [--targets pickle,zip,torch,safetensors] [--seed S] [--jobs J] [--time-limit-ms T] [--hang-ms H] [--heap-mb M] [--findings DIR]');
  process.exit(0);
}
const targets = args.targets.split(',');
for (const t of targets) if (!targetNames.includes(t)) throw new Error(`unknown target ${t}; the targets are ${targetNames.join(', ')}`);
const perTarget = Math.ceil(Number(args.inputs) / targets.length);
const seed = Number(args.seed);
const limits = { ...defaults, timeLimitMs: Number(args['time-limit-ms']) };
const hangMs = Number(args['hang-ms']);

let findingCount = 0;
function saveFinding(target, kind, message, stack, input, signature) {
  findingCount++;
  mkdirSync(args.findings, { recursive: true });
  const hash = createHash('sha256').update(input).digest('hex').slice(0, 12);
  const base = join(args.findings, `${target}-${kind}-${hash}`);
  writeFileSync(`${base}.bin`, input);
  writeFileSync(`${base}.txt`, `target: ${target}\nkind: ${kind}\nsignature: ${signature}\nseed: ${seed}\n\n${stack ?? message}\n`);
  const preview = Buffer.from(input.subarray(0, 96)).toString('hex');
  console.log(`FINDING ${target} ${kind}: ${message}\n  saved ${base}.bin (${input.length} bytes: ${preview}${input.length > 96 ? '…' : ''})\n  ${(stack ?? '').split('\n').slice(1, 5).join('\n  ')}`);
}

function runTarget(name) {
  return new Promise((resolve) => {
    const shared = new SharedArrayBuffer(8 + maxInputBytes);
    const header = new Int32Array(shared, 0, 2);
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { name, corpusDir: join(here, 'corpus', name), iterations: perTarget, seed, limits, shared, maxSavedPerSignature: 3 },
      resourceLimits: { maxOldGenerationSizeMb: Number(args['heap-mb']) },
    });
    const currentInput = () => new Uint8Array(shared, 8, Atomics.load(header, 1)).slice();
    const started = performance.now();
    let lastCount = -1;
    let lastChange = performance.now();
    let stats;
    const watchdog = setInterval(() => {
      const count = Atomics.load(header, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > hangMs) {
        saveFinding(name, 'hang', `no progress for ${hangMs} ms`, undefined, currentInput(), 'hang');
        void worker.terminate();
      }
    }, 500);
    worker.on('message', (m) => {
      if (m.type === 'finding') saveFinding(name, m.kind, m.message, m.stack, m.input, m.signature);
      else if (m.type === 'progress') console.log(`  ${name}: ${m.index} inputs, ${Math.round(m.index / ((performance.now() - started) / 1000))}/s`);
      else if (m.type === 'done') stats = m.stats;
    });
    worker.on('error', (error) => {
      // Out of heap (ERR_WORKER_OUT_OF_MEMORY) or an error thrown outside the oracle.
      saveFinding(name, error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'worker', error.message, error.stack, currentInput(), error.code ?? 'worker');
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      resolve(stats ?? { target: name, inputs: Atomics.load(header, 0), aborted: true, ms: Math.round(performance.now() - started) });
    });
  });
}

const wallStart = performance.now();
console.log(`fuzzing ${targets.join(', ')}: ${perTarget} inputs each, seed ${seed}, ${args.jobs} at a time`);
const queue = [...targets];
const results = [];
await Promise.all(
  Array.from({ length: Math.max(1, Number(args.jobs)) }, async () => {
    for (let name = queue.shift(); name; name = queue.shift()) results.push(await runTarget(name));
  }),
);
const wall = (performance.now() - wallStart) / 1000;
console.log('\nsummary');
let total = 0;
for (const s of results.sort((a, b) => targets.indexOf(a.target) - targets.indexOf(b.target))) {
  total += s.inputs;
  const rate = Math.round(s.inputs / (s.ms / 1000));
  console.log(`  ${s.target.padEnd(12)} ${String(s.inputs).padStart(9)} inputs in ${(s.ms / 1000).toFixed(1)} s (${rate}/s)${s.aborted ? ' ABORTED' : ''}: ok ${s.ok ?? '?'}, typed errors ${s.typed ?? '?'} ${JSON.stringify(s.codes ?? {})}, findings ${s.findings ?? '?'}`);
  for (const [sig, n] of Object.entries(s.signatures ?? {})) console.log(`      ${n} × ${sig}`);
}
console.log(`  total ${total} inputs, wall ${wall.toFixed(1)} s, ${findingCount} findings saved${findingCount ? ` under ${args.findings}` : ''}`);
process.exitCode = findingCount > 0 ? 1 : 0;
