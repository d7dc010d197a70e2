#!/usr/bin/env node
// @ts-check
/**
 * `npm run soak`: `resnet serve` under hostile and valid traffic at once, for the issue's soak (hostile
 * images, nested JSON and idle connections mixed with valid traffic; every valid request answered correctly;
 * RSS back within 20 % of where it started).
 *
 * Builds the model (`--model`, default resnet18) with seeded weights (`--seed`) or `--weights FILE`, writes
 * them to a temporary safetensors file and starts `resnet serve` on it as a child process (its flags pass
 * through: the named ones below, and anything after a second `--` verbatim). The library computes every valid
 * request's logits in this process beforehand, and each is sent once, alone, before anything else (the soak
 * stops there if the server disagrees). Then three phases:
 * 1. warm-up (`--warmup` s): valid traffic only. Its last seconds give the RSS baseline.
 * 2. hostile (`--duration` s, default 300): the valid traffic goes on beside hostile image clients (thin
 *    PNGs, decompression bombs, truncated and corrupt files; some leave mid-request), JSON clients (200k-deep
 *    nesting, bodies just under the limit, oversized bodies), slow clients (trickled headers and bodies),
 *    connections that never send a byte and keep-alive connections left open (bench/soak/*.mjs).
 * 3. settle (`--settle` s): the hostile clients gone, valid traffic only. Its last seconds give the end RSS.
 * Throughout: every valid answer checked against its reference logits; liveness probed on new connections;
 * the server's RSS sampled. Then SIGTERM. The tables go to stdout last (progress to stderr); `--json FILE`
 * writes the results. Exit status 1 unless every check passes. `npm run build` first.
 *
 *   npm run soak -- [--duration 300] [--warmup 20] [--settle 60] [--model resnet18] [--seed 14] [--weights FILE]
 *     [--valid-clients 4] [--image-clients 4] [--json-clients 2] [--slow-clients 8] [--idle-connections 300]
 *     [--keepalive-connections 50] [--probe-interval-ms 500] [--sample-interval-ms 2000] [--request-timeout 120]
 *     [--threads N] [--json FILE] [--http-threads N] [--max-body-bytes N] [--max-batch-size N] … [-- SERVER FLAGS]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseSoakOptions, UsageError } from './soak/options.mjs';
import { prepareModel } from './soak/model.mjs';
import { buildValidRequests, tolerance } from './soak/valid-requests.mjs';
import { hostileImages, hostileJson, imageRequest, oversizedBytes } from './soak/hostile-payloads.mjs';
import { preflight, startValidTraffic } from './soak/valid-traffic.mjs';
import { endingOf, startHostileTraffic } from './soak/hostile-traffic.mjs';
import { holdConnections } from './soak/idle-connections.mjs';
import { procMemory, startLivenessProbes, startMemorySampler, watchOwnEventLoop } from './soak/probes.mjs';
import { OutcomeTally, ProbeTally, ValidTally } from './soak/tally.mjs';
import { checksOf, renderSoakReport, summarizeMemory } from './soak/report.mjs';
import { exchange } from './soak/raw-http.mjs';
import { startServer } from './serve/server-process.mjs';
import { getJson } from './serve/server-view.mjs';
import { modelGeometry } from './serve/requests.mjs';

/** @param {string} line */
const log = (line) => process.stderr.write(`soak: [${(performance.now() / 1000).toFixed(1)} s] ${line}\n`);
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @type {import('./soak/options.mjs').SoakOptions} */
let o;
try {
  o = parseSoakOptions(process.argv.slice(2), { cpus: availableParallelism() });
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  log(error.message);
  process.exit(2);
}

const scratch = mkdtempSync(path.join(tmpdir(), 'resnet-soak-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

log(`building ${o.model} and the reference logits of the valid requests`);
const model = await prepareModel({ arch: o.model, seed: o.seed, weights: o.weights, dir: scratch });
const serverArgs = ['--model', model.spec, '--log-level', 'warn', '--threads', String(o.threads), ...o.serverArgs];
/** Ends the soak on an error that leaves nothing to measure (the server would not start, or disagrees from the first answer). @param {unknown} error @returns {never} */
function giveUp(error) {
  log(`cannot soak: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const server = await startServer(serverArgs, { readyTimeoutMs: o.readyTimeout * 1000, log }).catch(giveUp);
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    log(`${signal}: stopping the server`);
    void server.stop(5000).finally(() => process.exit(130));
  });
}

/** The phase the clients count their requests in. @type {import('./soak/tally.mjs').Phase} */
let phase = 'warmup';
/** Sleeps `seconds`, logging progress every 30 s; returns early when the server exits. @param {number} seconds @param {() => string} progress */
async function hold(seconds, progress) {
  const end = performance.now() + seconds * 1000;
  let next = performance.now() + 30_000;
  while (performance.now() < end && server.exitStatus() === null) {
    await sleep(Math.min(500, end - performance.now()));
    if (performance.now() >= next) {
      log(progress());
      next += 30_000;
    }
  }
}

/** The soak itself, from the model's metadata to the server's shutdown; what the report prints and `--json` writes. */
async function soak() {
  const g = modelGeometry(await getJson(`${server.url}/v2/models/${encodeURIComponent(o.model)}`));
  const inferPath = `/v2/models/${encodeURIComponent(g.model)}/infer`;
  const requests = await buildValidRequests(model, { inputName: g.inputName, outputName: g.outputName });
  model.dispose();
  const maxBodyFlag = serverArgs.indexOf('--max-body-bytes');
  const maxBodyBytes = maxBodyFlag === -1 ? 32 * 2 ** 20 : Number(serverArgs[maxBodyFlag + 1]);
  const images = (await hostileImages()).map((image) => ({ name: image.name, ...imageRequest(g.inputName, image.bytes) }));
  const json = hostileJson({ inputName: g.inputName, size: model.transforms.cropSize, maxBodyBytes });
  const port = Number(new URL(server.url).port);

  log(`preflight: each of the ${requests.length} valid requests once (${requests.map((r) => r.kind).join(', ')})`);
  await preflight({ origin: server.url, path: inferPath, outputName: g.outputName, requests, timeoutMs: o.requestTimeout * 1000 });

  const validTally = new ValidTally();
  const hostileTally = new OutcomeTally();
  const probeTally = new ProbeTally();
  const ownLoop = watchOwnEventLoop();
  const sampler = startMemorySampler({ pid: server.pid, origin: server.url, intervalMs: o.sampleIntervalMs, phase: () => phase });
  const probes = startLivenessProbes({ port, intervalMs: o.probeIntervalMs, phase: () => phase, tally: probeTally });
  const valid = startValidTraffic({
    origin: server.url, path: inferPath, outputName: g.outputName, requests, clients: o.validClients, timeoutMs: o.requestTimeout * 1000,
    phase: () => phase, tally: validTally,
  });
  const status = () => {
    const t = validTally.totals();
    const rss = sampler.samples.at(-1)?.rss ?? NaN;
    const live = probeTally.toJSON().phases[phase];
    const probes = live ? `${live.ok} of ${live.sent} answered, p99 ${live.latency.p99.toFixed(1)} ms` : 'none yet';
    return `${phase}: valid ${t.correct} correct, ${t.wrong} wrong, ${t.failed} failed; RSS ${(rss / 2 ** 20).toFixed(0)} MiB; liveness probes of this phase: ${probes}`;
  };

  log(`warm-up: ${o.warmup} s of valid traffic (${o.validClients} clients)`);
  await hold(o.warmup, status);

  phase = 'hostile';
  log(`hostile: ${o.duration} s; ${o.imageClients} image, ${o.jsonClients} JSON and ${o.slowClients} slow clients, ${o.idleConnections} idle and ${o.keepaliveConnections} keep-alive connections`);
  const idle = holdConnections({ port, count: o.idleConnections, kind: 'idle' });
  const keepalive = holdConnections({ port, count: o.keepaliveConnections, kind: 'keep-alive' });
  const hostile = startHostileTraffic({
    port, path: inferPath, images, json, oversizedBytes: oversizedBytes(maxBodyBytes),
    clients: { images: o.imageClients, json: o.jsonClients, slow: o.slowClients }, tally: hostileTally,
  });
  await hold(o.duration, status);
  await hostile.stop();
  const connections = [idle.stop(), keepalive.stop()];

  phase = 'settle';
  log(`settle: ${o.settle} s of valid traffic only`);
  await hold(o.settle, status);

  const last = server.exitStatus() === null
    ? await exchange({ port, head: 'GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', plan: { kind: 'complete' }, deadlineMs: 10_000 })
    : null;
  await valid.stop();
  await probes.stop();
  const samples = await sampler.stop();
  const hwm = procMemory(server.pid).hwm;
  const exitedEarly = server.exitStatus();
  log('stopping the server (SIGTERM)');
  const stopped = performance.now();
  const shutdown = { ...(await server.stop(60_000)), ms: performance.now() - stopped };

  const windowS = Math.min(10, o.warmup / 2, o.settle / 2);
  return {
    tool: 'soak', version: 1, options: o,
    model: { arch: o.model, weights: model.weightsDescription, spec: model.spec },
    phases: { warmupS: o.warmup, hostileS: o.duration, settleS: o.settle },
    tolerance,
    valid: validTally.toJSON(),
    hostile: hostileTally.toJSON(),
    connections,
    liveness: probeTally.toJSON(),
    ownEventLoop: ownLoop.stop(),
    memory: { ...summarizeMemory(samples, hwm, windowS), samples },
    server: {
      args: serverArgs, pid: server.pid, readyLine: server.readyLine(), exitedEarly,
      finalLive: last === null ? 'not probed: the server had exited' : last.status === 200 ? 'ok' : endingOf(last),
      shutdown, tail: exitedEarly !== null || shutdown.code !== 0 ? server.tail() : '',
    },
  };
}

let results;
try {
  results = await soak();
} catch (error) {
  await server.stop(5000);
  giveUp(error);
}
const checks = checksOf(results);
const report = { ...results, checks, pass: checks.every((c) => c.pass) };
if (o.json) writeFileSync(o.json, `${JSON.stringify(report, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
process.stdout.write(`\n${renderSoakReport(report)}`);
if (report.server.tail) process.stderr.write(`soak: the server's last output:\n${report.server.tail}\n`);
process.exitCode = report.pass ? 0 : 1;
