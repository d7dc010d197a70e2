#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:serve`: load test (and optional soak) of `resnet serve` on 127.0.0.1, measured as
 * Triton's perf_analyzer measures a server in concurrency mode.
 *
 * Starts the server as a child process. For each input kind (`--input`) and concurrency level, the load
 * generator (bench/serve/generator.mjs) forks up to `--clients` client processes that share the level's
 * closed-loop slots, each slot one keep-alive connection (undici) with exactly one request outstanding;
 * all warm up, then measure a window. Per kind and level it reports img/s, requests/s, p50/p90/p99
 * latency (a merged histogram of every client's 2xx answers in the window), the average batch the dynamic
 * batcher formed (Triton's nv_inference_count / nv_inference_exec_count from /metrics), the server
 * process's CPU use and the generator's own (cores over the window), every failed request by cause, and
 * the ratio to the engine's own throughput (`resnet bench` at the batch the server formed, in a process
 * of its own while the server idles; on uint8 input for uint8 kinds once the engine takes it).
 * Input kinds: `fp32` (binary FP32 [n,3,H,W]), `uint8` (binary UINT8 [n,H,W,3]), `jpeg` (BYTES, a corpus
 * of ImageNet-sized JPEGs cut once per run from the photos in `--photos`; skipped, saying so, when there
 * are none) and `shm` (Triton's system shared memory: a registered /dev/shm region per slot holding the
 * input, `--shm-datatype`, and the output; the server gets `--allow-shm`).
 * Then, per kind at its best concurrency, it alternates `--rounds` times between the engine (the server
 * idle) and the server again, and prints each round's server / engine and their median: on a shared VM
 * both figures drift by 10-30 % over minutes, so only figures taken side by side compare.
 * `--soak SECONDS` then holds the first kind's best concurrency that long and reports the server's RSS at
 * the start and end and every failure other than a deliberate 503. Tables are printed last, on stdout
 * (`--json`: the results as JSON instead); progress goes to stderr. Exit status 1 when a kind could not be
 * measured, the soak saw failures or the server did not shut down cleanly. `npm run build` first.
 *
 *   npm run bench:serve -- [--model resnet18] [--input fp32,uint8,jpeg,shm] [--concurrency 1,2,4,8,16,32]
 *     [--clients N] [--images-per-request 1] [--shm-datatype uint8|fp32] [--photos DIR] [--jpeg-count 24]
 *     [--duration 10] [--warmup 3] [--rounds 3] [--soak 300] [--threads N] [--engine-iters 20] [--json]
 *     [--device cpu] [--dtype float32] [--input-size N] [--max-batch-size N] [--preferred-batch-sizes 4,8]
 *     [--max-queue-delay-us N] [--max-queue-size N] [--instance-count N] [--default-timeout-us N] [--max-body-bytes N]
 *     [--http-threads N] [--body-arena-bytes N]
 */
import { availableParallelism } from 'node:os';
import { parseOptions, UsageError } from './serve/options.mjs';
import { startServer } from './serve/server-process.mjs';
import { runLoad, stopClients } from './serve/generator.mjs';
import { findPhotos, makeJpegCorpus } from './serve/jpeg-corpus.mjs';
import { modelGeometry } from './serve/requests.mjs';
import { snapshotDelta } from './serve/prometheus.mjs';
import { getJson, metricsOf, serveTakes, settle } from './serve/server-view.mjs';
import { engineThroughput } from './serve/engine.mjs';
import { median, renderReport } from './serve/report.mjs';

/** @param {string} line */
const log = (line) => process.stderr.write(`bench:serve: ${line}\n`);

/** @type {import('./serve/options.mjs').BenchOptions} */
let o;
try {
  o = parseOptions(process.argv.slice(2), { cpus: availableParallelism() });
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  log(error.message);
  process.exit(2);
}

/** @type {Awaited<ReturnType<typeof startServer>> | undefined} */
let server;
// Ctrl-C or a kill: the clients unregister their regions and go, then the server (the 'exit' hooks of
// server-process and generator cover every other path).
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    log(`${signal}: stopping the clients and the server`);
    void stopClients(3000).then(() => server?.stop(2000)).finally(() => process.exit(130));
  });
}

/** @type {Buffer[]} */
let jpegImages = [];
let jpegSkipped = null;
if (o.inputs.includes('jpeg')) {
  try {
    jpegImages = await makeJpegCorpus(findPhotos(o.photos), o.jpegCount);
    const kb = jpegImages.reduce((sum, b) => sum + b.length, 0) / jpegImages.length / 1024;
    log(`jpeg: ${jpegImages.length} images of about 500×375 from ${o.photos}, ${kb.toFixed(0)} KiB on average`);
  } catch (error) {
    jpegSkipped = error instanceof Error ? error.message : String(error);
    log(`jpeg: skipped: ${jpegSkipped}`);
  }
}

const serverArgs = ['--model', o.spec, '--log-level', 'warn', '--threads', String(o.threads), ...o.serverArgs];
if (o.inputs.includes('shm')) {
  if (serveTakes('--allow-shm')) serverArgs.push('--allow-shm');
  else log('resnet serve has no --allow-shm (yet): started without it, so the shm input shows how this server answers');
}
server = await startServer(serverArgs, { readyTimeoutMs: o.readyTimeout * 1000, log });
const running = server;

/** What renderReport (bench/serve/report.mjs) prints and `--json` writes. @type {Record<string, any> & { kinds: any[]; engines: any[]; rounds: any[] }} */
const results = {
  model: o.spec, serverArgs, threads: o.threads, clients: o.clients, inputs: o.inputs, imagesPerRequest: o.imagesPerRequest,
  shmDatatype: o.shmDatatype, warmup: o.warmup, duration: o.duration, engineIters: o.engineIters,
  kinds: [], engines: [], rounds: [], soak: null, shutdown: null,
};
try {
  const g = modelGeometry(await getJson(`${running.url}/v2/models/${encodeURIComponent(o.arch)}`));
  const path = `/v2/models/${encodeURIComponent(g.model)}/infer`;
  const engineInput = (/** @type {string} */ kind) => (kind === 'uint8' || (kind === 'shm' && o.shmDatatype === 'uint8') ? 'uint8' : 'float32');

  /**
   * One load at `concurrency`, its batches from /metrics. @param {import('./serve/options.mjs').InputKind} kind
   * @param {number} concurrency @param {number} warmupS @param {number} durationS
   */
  const measure = async (kind, concurrency, warmupS, durationS) => {
    await settle(running, g.model, g.version);
    const load = await runLoad({
      origin: running.url, path, kind, shmDatatype: o.shmDatatype, geometry: g, imagesPerRequest: o.imagesPerRequest, jpegImages,
      concurrency, clients: o.clients, warmupMs: warmupS * 1000, durationMs: durationS * 1000, serverPid: running.pid,
      readMetrics: () => metricsOf(running, g.model, g.version),
    });
    if (!load.ok || load.metrics === null) return { ok: /** @type {const} */ (false), message: load.ok ? 'no /metrics snapshot' : load.message };
    const delta = snapshotDelta(load.metrics.before, load.metrics.after);
    if (load.unaccounted !== 0) log(`${kind} at ${concurrency}: ${load.unaccounted} request(s) unaccounted for (a bug of the generator)`);
    return { ...load, averageBatch: delta.averageBatch, batches: delta.batches, serverFailures: delta.failures, delta };
  };

  for (const kind of o.inputs) {
    /** @type {{ kind: string; rows: any[]; failure: string | null; skipped: string | null; best: any }} */
    const entry = { kind, rows: [], failure: null, skipped: kind === 'jpeg' ? jpegSkipped : null, best: null };
    results.kinds.push(entry);
    if (entry.skipped) continue;
    for (const concurrency of o.levels) {
      const row = await measure(kind, concurrency, o.warmup, o.duration);
      if (!row.ok) {
        entry.failure = row.message;
        log(`${kind}: not measured: ${row.message}`);
        break;
      }
      log(`${kind} at ${concurrency}: ${row.imgPerSec.toFixed(1)} img/s, p50 ${row.latency.p50.toFixed(2)} ms, p99 ${row.latency.p99.toFixed(2)} ms, batch ${row.averageBatch.toFixed(2)}, server ${row.serverCores.toFixed(2)} cores, errors ${row.errors}`);
      entry.rows.push(row);
    }
    if (entry.rows.length > 0) entry.best = entry.rows.reduce((a, b) => (b.imgPerSec > a.imgPerSec ? b : a));
  }

  // The engine at each batch the server formed, on the matching input, while the server idles.
  const device = o.server.device ?? 'cpu';
  const dtype = o.server.dtype ?? 'float32';
  const engineAt = async (/** @type {number} */ batch, /** @type {'float32' | 'uint8'} */ input, /** @type {number} */ threads = o.threads) => {
    await settle(running, g.model, g.version);
    return engineThroughput({ arch: o.arch, batch, inputSize: g.height, iters: o.engineIters, threads, device, dtype, input });
  };
  const batchOf = (/** @type {number} */ averageBatch) => (Number.isFinite(averageBatch) ? Math.max(1, Math.round(averageBatch)) : 1);
  for (const entry of results.kinds) {
    for (const row of entry.rows) {
      const batch = batchOf(row.averageBatch);
      const input = engineInput(entry.kind);
      let engine = results.engines.find((e) => e.batch === batch && e.wanted === input);
      if (!engine) {
        log(`engine: resnet bench --model ${o.arch} --batch ${batch} (${input} input)`);
        engine = { batch, wanted: input, ...(await engineAt(batch, input)) };
        results.engines.push(engine);
      }
      Object.assign(row, { engineBatch: batch, engineImgPerSec: engine.imgPerSec, engineRatio: row.imgPerSec / engine.imgPerSec });
    }
  }

  // The server's own layout (Triton's instance_group): CPU instances run side by side, each on its share
  // of the threads, so the engine is also measured that way, as that many processes at once.
  const config = await getJson(`${running.url}/v2/models/${encodeURIComponent(g.model)}/config`).catch(() => ({}));
  const instances = config.instance_group?.[0]?.kind === 'KIND_CPU' ? Number(config.instance_group[0].count) : 1;
  const instanceThreads = Math.max(1, Math.floor(o.threads / instances));
  const sideBySide = instances > 1 && instanceThreads < o.threads;
  for (const entry of results.kinds.filter((k) => k.best)) {
    const { concurrency } = entry.best;
    const batch = batchOf(entry.best.averageBatch);
    const input = engineInput(entry.kind);
    const rows = [];
    for (let round = 1; round <= o.rounds; round++) {
      log(`round ${round}/${o.rounds} of ${entry.kind}: engine at batch ${batch}, then the server at concurrency ${concurrency}`);
      const engine = await engineAt(batch, input);
      let sideBySideImgPerSec = NaN;
      if (sideBySide) {
        const each = await Promise.all(Array.from({ length: instances }, () => engineThroughput({
          arch: o.arch, batch, inputSize: g.height, iters: o.engineIters, threads: instanceThreads, device: 'cpu', dtype: 'float32', input,
        })));
        sideBySideImgPerSec = each.reduce((sum, e) => sum + e.imgPerSec, 0);
      }
      const load = await measure(entry.kind, concurrency, o.warmup, o.duration);
      if (!load.ok) throw new Error(`round ${round} of ${entry.kind}: ${load.message}`);
      rows.push({
        round, serverImgPerSec: load.imgPerSec, averageBatch: load.averageBatch, engineImgPerSec: engine.imgPerSec, ratio: load.imgPerSec / engine.imgPerSec,
        sideBySideImgPerSec, sideBySideRatio: load.imgPerSec / sideBySideImgPerSec,
      });
    }
    results.rounds.push({
      kind: entry.kind, concurrency, batch, input, rows, sideBySide: sideBySide ? { instances, instanceThreads } : null,
      medianServer: median(rows.map((r) => r.serverImgPerSec)), medianEngine: median(rows.map((r) => r.engineImgPerSec)),
      medianRatio: median(rows.map((r) => r.ratio)), medianSideBySide: median(rows.map((r) => r.sideBySideImgPerSec)),
      medianSideBySideRatio: median(rows.map((r) => r.sideBySideRatio)),
    });
  }

  const primary = results.kinds.find((k) => k.best);
  if (o.soak > 0 && primary) {
    const { concurrency } = primary.best;
    log(`soak: ${o.soak} s of ${primary.kind} at concurrency ${concurrency}`);
    await settle(running, g.model, g.version);
    const start = await metricsOf(running, g.model, g.version);
    // RSS every tenth of the soak, so a slow climb shows even when start and end happen to agree.
    const trail = [start.rssBytes];
    const sampler = setInterval(() => {
      metricsOf(running, g.model, g.version).then((m) => trail.push(m.rssBytes), () => {});
    }, Math.max(1000, (o.soak * 1000) / 10));
    let load;
    try {
      load = await measure(primary.kind, concurrency, 0, o.soak);
    } finally {
      clearInterval(sampler);
    }
    if (!load.ok) throw new Error(`soak: ${load.message}`);
    const end = await metricsOf(running, g.model, g.version);
    trail.push(end.rssBytes);
    // Deliberate: 503 (queue full or timed out, with Retry-After). Anything else is a failure.
    const rejected = load.failures['HTTP 503']?.count ?? 0;
    results.soak = {
      kind: primary.kind, concurrency, seconds: o.soak, load, delta: snapshotDelta(start, end), rejected, failures: load.errors - rejected,
      rssStart: start.rssBytes, rssEnd: end.rssBytes, rssPeak: Math.max(...trail),
    };
  }
} catch (error) {
  await stopClients(3000);
  await running.stop(5000);
  throw error;
}
log('stopping the server (SIGTERM, graceful)');
results.shutdown = await running.stop(40_000);
const failedKinds = results.kinds.filter((k) => k.failure !== null);
const lost = results.kinds.flatMap((k) => k.rows).reduce((sum, row) => sum + row.unaccounted, 0);
if (o.json) console.log(JSON.stringify(results, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2));
else process.stdout.write(`\n${renderReport(results)}`);
process.exitCode = failedKinds.length > 0 || lost !== 0 || (results.soak?.failures ?? 0) > 0 || results.shutdown.code !== 0 ? 1 : 0;
