#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:serve`: load test (and optional soak) of `resnet serve` on 127.0.0.1.
 *
 * Starts the server as a child process, drives `POST /v2/models/<m>/infer` with autocannon at
 * increasing concurrency (one binary-tensor FP32 image per request, binary output), reads per level
 * the throughput, p50/p90/p99 latency, non-2xx answers and the average batch the dynamic batcher
 * formed (Triton's nv_inference_count / nv_inference_exec_count from /metrics). Then, at the best
 * concurrency, it alternates `--rounds` times between the engine's own `resnet bench` at that batch size
 * (in a process of its own, the server idle) and the server again, and prints each round's server /
 * engine and their median: on a shared VM both figures drift by 10-30 % over minutes, so only figures
 * taken side by side compare.
 * `--soak SECONDS` then holds the best concurrency that long and reports the server's RSS at the start
 * and end and every failure other than a deliberate 503. Tables are printed last, on stdout; progress
 * goes to stderr. `npm run build` first.
 *
 *   npm run bench:serve -- [--model resnet18] [--concurrency 1,2,4,8,16,32] [--duration 10] [--warmup 3]
 *     [--rounds 3] [--soak 300] [--threads N] [--device cpu] [--dtype float32] [--input-size N] [--engine-iters 20]
 *     [--max-batch-size N] [--preferred-batch-sizes 4,8] [--max-queue-delay-us N] [--max-queue-size N]
 *     [--instance-count N] [--default-timeout-us N] [--json]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { formatTable } from '../dist/cli/stats.js';
import { startServer } from './serve/server-process.mjs';
import { binaryInferRequest, checkOneRequest, drive } from './serve/load.mjs';
import { modelSnapshot, snapshotDelta } from './serve/prometheus.mjs';
import { engineThroughput } from './serve/engine.mjs';

/** Flags handed to `resnet serve` unchanged (model and batching settings). */
const passThrough = [
  'device', 'dtype', 'input-size', 'max-batch-size', 'preferred-batch-sizes', 'max-queue-delay-us', 'max-queue-size',
  'instance-count', 'default-timeout-us',
];

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet18' },
    concurrency: { type: 'string', default: '1,2,4,8,16,32' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    soak: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    'engine-iters': { type: 'string', default: '20' },
    'ready-timeout': { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
    ...Object.fromEntries(passThrough.map((name) => [name, { type: /** @type {const} */ ('string') }])),
  },
  strict: true,
});

/** Every count and time is bounded, so a typo cannot start an hour-long run. */
function integer(name, value, min, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} expects an integer in ${min}..${max} but received ${JSON.stringify(value)}`);
  return n;
}
const levels = String(flags.concurrency).split(',').map((v) => integer('concurrency', v.trim(), 1, 1024));
if (levels.length > 12) throw new Error(`--concurrency lists ${levels.length} levels; at most 12`);
const duration = integer('duration', flags.duration, 1, 600);
const warmup = integer('warmup', flags.warmup, 0, 60);
const soak = integer('soak', flags.soak, 0, 3600);
const rounds = integer('rounds', flags.rounds, 1, 20);
const threads = integer('threads', flags.threads, 1, 1024);
const engineIters = integer('engine-iters', flags['engine-iters'], 1, 1000);
const readyTimeout = integer('ready-timeout', flags['ready-timeout'], 1, 3600);
const spec = String(flags.model);
const arch = spec.split('=')[0];
/** @param {string} line */
const log = (line) => process.stderr.write(`bench:serve: ${line}\n`);
/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const serverArgs = ['--model', spec, '--log-level', 'warn', '--threads', String(threads)];
for (const name of passThrough) if (flags[name] !== undefined) serverArgs.push(`--${name}`, String(flags[name]));

const server = await startServer(serverArgs, { readyTimeoutMs: readyTimeout * 1000, log });
// Ctrl-C or a kill: the child goes too (the 'exit' hook in server-process covers every other path).
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    log(`${signal}: stopping the server`);
    void server.stop(2000).finally(() => process.exit(130));
  });
}

let shutdown;
/** @type {Awaited<ReturnType<typeof runLevels>>} */
let measured;
/** @type {Awaited<ReturnType<typeof runSoak>> | null} */
let soakResult = null;
/** @type {Awaited<ReturnType<typeof runRounds>>} */
let compared;
/** The engine's batch size: the batch the batcher formed at the best concurrency. */
let batch = 1;
try {
  measured = await runLevels();
  // No batch at all (every request failed) averages to NaN, which the table shows: compare with batch 1 then.
  batch = Number.isFinite(measured.best.averageBatch) ? Math.max(1, Math.round(measured.best.averageBatch)) : 1;
  compared = await runRounds(measured.best.connections);
  soakResult = soak > 0 ? await runSoak(measured.best.connections) : null;
} catch (error) {
  await server.stop(5000);
  throw error;
}
log('stopping the server (SIGTERM, graceful)');
shutdown = await server.stop(40_000);
const ratio = compared.medianRatio;
const soakFailures = soakResult ? soakResult.failures : 0;
print();
process.exitCode = soakFailures > 0 || shutdown.code !== 0 ? 1 : 0;

async function metrics(model, version) {
  const res = await fetch(`${server.url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const snapshot = modelSnapshot(await res.text(), model, version);
  // prom-client's process metrics are Linux-backed; /proc is the fallback when the metric is missing.
  if (!(snapshot.rssBytes > 0)) snapshot.rssBytes = server.rssBytes();
  return snapshot;
}

/** Waits until the model's queue is empty, so one level's tail does not run into the next. */
async function settle(model, version) {
  for (let i = 0; i < 100; i++) {
    if ((await metrics(model, version)).pending === 0) break;
    await sleep(100);
  }
  await sleep(200);
}

async function runLevels() {
  const res = await fetch(`${server.url}/v2/models/${encodeURIComponent(arch)}`);
  if (res.status !== 200) throw new Error(`GET /v2/models/${arch} answered ${res.status}: ${await res.text()}`);
  const metadata = await res.json();
  const input = metadata.inputs.find((/** @type {{ datatype: string }} */ t) => t.datatype === 'FP32') ?? metadata.inputs[0];
  const output = metadata.outputs.find((/** @type {{ name: string }} */ t) => t.name === 'output') ?? metadata.outputs[0];
  const version = metadata.versions?.[0] ?? '1';
  const url = `${server.url}/v2/models/${encodeURIComponent(arch)}/infer`;
  const request = binaryInferRequest(input, output.name);
  await checkOneRequest(url, request, output.shape.slice(1).reduce((a, b) => a * b, 1));
  log(`${arch}: input ${input.name} [${input.shape}], ${request.body.length} bytes per request; ${levels.length} levels of ${warmup}+${duration} s`);

  const rows = [];
  for (const connections of levels) {
    const { load, delta } = await measureServer({ url, request, version }, connections);
    const row = { connections, ...load, averageBatch: delta.averageBatch, batches: delta.batches, serverFailures: delta.failures };
    log(`concurrency ${connections}: ${row.requestsPerSecond.toFixed(2)} img/s, p50 ${load.latency.p50} ms, batch ${row.averageBatch.toFixed(2)}, non-2xx ${load.non2xx}`);
    rows.push(row);
  }
  const best = rows.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
  return { rows, best, url, request, version, inputSize: input.shape[input.shape.length - 1] };
}

/**
 * One timed load at `connections` after a warm-up, each starting and ending with an empty queue: the
 * autocannon figures and the batcher's (from /metrics) over the timed part.
 * @param {{ url: string; request: ReturnType<typeof binaryInferRequest>; version: string }} target
 * @param {number} connections
 */
async function measureServer({ url, request, version }, connections) {
  if (warmup > 0) await drive({ url, request, connections, seconds: warmup, timeoutSeconds: 60 });
  await settle(arch, version);
  const before = await metrics(arch, version);
  const load = await drive({ url, request, connections, seconds: duration, timeoutSeconds: 60 });
  await settle(arch, version);
  return { load, delta: snapshotDelta(before, await metrics(arch, version)) };
}

/**
 * `rounds` times: the engine alone (`resnet bench` at `batch`, the server idle), then the server at
 * `connections` for `duration` s. Each round's ratio compares figures taken a minute apart at most.
 * @param {number} connections
 */
async function runRounds(connections) {
  const { version } = measured;
  // The server's own layout (Triton's instance_group): its CPU instances run side by side, each on its
  // share of the threads, so the engine is also measured that way, as that many processes at once.
  const configResponse = await fetch(`${server.url}/v2/models/${encodeURIComponent(arch)}/config`);
  const config = configResponse.status === 200 ? await configResponse.json() : {};
  const instances = config.instance_group?.[0]?.kind === 'KIND_CPU' ? Number(config.instance_group[0].count) : 1;
  const instanceThreads = Math.max(1, Math.floor(threads / instances));
  const sideBySide = instances > 1 && instanceThreads < threads;
  const rows = [];
  for (let round = 1; round <= rounds; round++) {
    await settle(arch, version);
    log(`round ${round}/${rounds}: engine, resnet bench --model ${arch} --batch ${batch} --threads ${threads}`);
    const engineOptions = { arch, batch, inputSize: measured.inputSize, iters: engineIters };
    const engine = await engineThroughput({ ...engineOptions, threads, device: flags.device ?? 'cpu', dtype: flags.dtype ?? 'float32' });
    let sideBySideImgPerSec = NaN;
    if (sideBySide) {
      log(`round ${round}/${rounds}: engine side by side, ${instances} x resnet bench --batch ${batch} --threads ${instanceThreads}`);
      const each = await Promise.all(Array.from({ length: instances }, () => engineThroughput({
        ...engineOptions, threads: instanceThreads, device: 'cpu', dtype: 'float32',
      })));
      sideBySideImgPerSec = each.reduce((sum, e) => sum + e.imgPerSec, 0);
    }
    log(`round ${round}/${rounds}: server at concurrency ${connections}`);
    const { load, delta } = await measureServer(measured, connections);
    const row = {
      round, serverImgPerSec: load.requestsPerSecond, averageBatch: delta.averageBatch, engineImgPerSec: engine.imgPerSec,
      ratio: load.requestsPerSecond / engine.imgPerSec, sideBySideImgPerSec, sideBySideRatio: load.requestsPerSecond / sideBySideImgPerSec,
    };
    log(`round ${round}/${rounds}: server ${row.serverImgPerSec.toFixed(2)} img/s, engine ${row.engineImgPerSec.toFixed(2)} img/s, ratio ${row.ratio.toFixed(3)}`);
    rows.push(row);
  }
  const median = (/** @type {number[]} */ values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  return {
    rows,
    sideBySide: sideBySide ? { instances, instanceThreads } : null,
    medianSideBySide: median(rows.map((r) => r.sideBySideImgPerSec)),
    medianSideBySideRatio: median(rows.map((r) => r.sideBySideRatio)),
    medianRatio: median(rows.map((r) => r.ratio)),
    medianServer: median(rows.map((r) => r.serverImgPerSec)),
    medianEngine: median(rows.map((r) => r.engineImgPerSec)),
  };
}

/** @param {number} connections */
async function runSoak(connections) {
  const { url, request, version } = measured;
  await settle(arch, version);
  const start = await metrics(arch, version);
  // RSS every tenth of the soak, so a slow climb shows even when start and end happen to agree.
  const trail = [start.rssBytes];
  const sampler = setInterval(() => {
    metrics(arch, version).then((m) => trail.push(m.rssBytes), () => {});
  }, Math.max(1000, (soak * 1000) / 10));
  log(`soak: ${soak} s at concurrency ${connections}`);
  let load;
  try {
    load = await drive({ url, request, connections, seconds: soak, timeoutSeconds: 60 });
  } finally {
    clearInterval(sampler);
  }
  await settle(arch, version);
  const end = await metrics(arch, version);
  trail.push(end.rssBytes);
  const delta = snapshotDelta(start, end);
  const rejected = load.statusCodes['503'] ?? 0;
  // Deliberate: 503 (queue full or timed out, with Retry-After). Anything else is a failure. Server-side
  // CANCELED failures are the requests autocannon drops in flight when its time is up (≤ connections).
  const failures = load.non2xx - rejected + load.errors;
  return { connections, load, delta, rejected, failures, rssStart: start.rssBytes, rssEnd: end.rssBytes, rssPeak: Math.max(...trail) };
}

function print() {
  const mib = (/** @type {number} */ b) => (b / 2 ** 20).toFixed(1);
  const ms = (/** @type {number} */ v) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const reasons = (/** @type {Record<string, number>} */ f) =>
    Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
  if (flags.json) {
    console.log(JSON.stringify({ model: spec, threads, serverArgs, levels: measured.rows, best: measured.best.connections, engineBatch: batch, rounds: compared.rows, ratio, soak: soakResult, shutdown }, null, 2));
    return;
  }
  console.log(`\n${spec} via resnet serve ${serverArgs.join(' ')}; autocannon on 127.0.0.1, 1 image per request (binary FP32), ${warmup} s warm-up + ${duration} s per level`);
  console.log(
    formatTable(
      ['concurrency', 'img/s', 'p50 ms', 'p90 ms', 'p99 ms', 'non-2xx', 'errors', 'avg batch', 'server failures'],
      measured.rows.map((r) => [
        r.connections, r.requestsPerSecond.toFixed(2), ms(r.latency.p50), ms(r.latency.p90), ms(r.latency.p99),
        r.non2xx, r.errors, Number.isFinite(r.averageBatch) ? r.averageBatch.toFixed(2) : '-', reasons(r.serverFailures),
      ]),
    ),
  );
  console.log(`\nserver vs engine, alternating (server at concurrency ${measured.best.connections} for ${duration} s; engine: resnet bench --batch ${batch} --threads ${threads}, one forward at a time, median of ${engineIters} runs)`);
  const side = compared.sideBySide;
  if (side) console.log(`(engine side by side: ${side.instances} processes of resnet bench --batch ${batch} --threads ${side.instanceThreads} at once, as the server's ${side.instances} CPU instances run)`);
  const num = (/** @type {number} */ v, /** @type {number} */ digits) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  console.log(
    formatTable(
      ['round', 'server img/s', 'avg batch', 'engine img/s', 'server/engine', 'engine side by side img/s', 'server/side by side'],
      [
        ...compared.rows.map((r) => [
          r.round, r.serverImgPerSec.toFixed(2), r.averageBatch.toFixed(2), r.engineImgPerSec.toFixed(2), r.ratio.toFixed(3),
          num(r.sideBySideImgPerSec, 2), num(r.sideBySideRatio, 3),
        ]),
        ['median', compared.medianServer.toFixed(2), '', compared.medianEngine.toFixed(2), ratio.toFixed(3), num(compared.medianSideBySide, 2), num(compared.medianSideBySideRatio, 3)],
      ],
    ),
  );
  if (soakResult) {
    const s = soakResult;
    console.log(`\nsoak: ${soak} s at concurrency ${s.connections}`);
    console.log(
      formatTable(
        ['requests', 'img/s', 'p99 ms', '503 (deliberate)', 'failures', 'server failures', 'RSS start MiB', 'RSS end MiB', 'RSS peak MiB', 'growth'],
        [[
          s.load.ok, s.load.requestsPerSecond.toFixed(2), ms(s.load.latency.p99), s.rejected, s.failures, reasons(s.delta.failures),
          mib(s.rssStart), mib(s.rssEnd), mib(s.rssPeak), `${(((s.rssEnd - s.rssStart) / s.rssStart) * 100).toFixed(1)}%`,
        ]],
      ),
    );
  }
  console.log(`\nserver shutdown on SIGTERM: exit ${shutdown.code ?? shutdown.signal}${shutdown.killed ? ' (killed after the deadline)' : ''}`);
}
