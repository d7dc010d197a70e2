// @ts-check
/**
 * The load generator, measured as Triton's perf_analyzer measures in concurrency mode: a fixed number of
 * closed-loop slots, each with exactly one request outstanding, spread over separate client processes
 * (client.mjs), so the generator's own event loops are not the server's and not one another's. All
 * clients start together, warm up, then count a measurement window; the parent merges their tallies
 * (tally.mjs) and samples, at the window's edges, the server's CPU time (`/proc/PID/stat`), its
 * `/metrics` and the generator's own CPU time.
 * @module
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { epochMs, sleepUntil } from './clock.mjs';
import { splitConcurrency } from './concurrency.mjs';
import { clockTicksPerSecond, coresBetween, coresFromCpuUsage, sampleProcess } from './cpu-use.mjs';
import { regionPrefix, sweepRegions } from './shm.mjs';
import { failureCount, mergeTallies, tallyFromJSON, unaccounted } from './tally.mjs';

const clientScript = fileURLToPath(new URL('./client.mjs', import.meta.url));

/** Client processes alive now: stopped on a signal, killed when this process exits. */
const live = new Set();
/** Set by {@link stopClients}: a load it cut short is reported as stopped, not measured. */
let stopRequested = false;
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  // Regions a killed client could not remove (their names carry this process's pid).
  sweepRegions(regionPrefix(process.pid));
});

/**
 * Asks every live client to stop (they unregister their regions and exit), waits up to `graceMs`, then
 * kills what is left. For a Ctrl-C or SIGTERM of the parent.
 * @param {number} graceMs
 */
export async function stopClients(graceMs) {
  stopRequested = true;
  const exits = [...live].map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(undefined);
    child.once('exit', resolve);
    // A closed channel (the client is exiting already) reports to the callback, not as an 'error' event.
    if (child.connected) child.send({ type: 'stop' }, () => {});
  }));
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, graceMs))]);
  for (const child of live) child.kill('SIGKILL');
  sweepRegions(regionPrefix(process.pid));
}

/**
 * @typedef {object} LoadOptions
 * @property {string} origin
 * @property {string} path       the infer path
 * @property {import('./options.mjs').InputKind} kind
 * @property {'uint8' | 'fp32'} shmDatatype
 * @property {import('./requests.mjs').ModelGeometry} geometry
 * @property {number} imagesPerRequest
 * @property {Buffer[]} [jpegImages]
 * @property {number} concurrency
 * @property {number} clients     processes at most
 * @property {number} warmupMs
 * @property {number} durationMs
 * @property {number} [timeoutMs] per request (default 60 s)
 * @property {number} [serverPid] the server's CPU use is read from /proc where given
 * @property {() => Promise<any>} [readMetrics]  a `/metrics` snapshot, taken at the window's edges
 */

/**
 * One child and what it says, as promises: ready (or its setup failure), and its result.
 * @param {number} index
 */
function startClient(index) {
  const child = fork(clientScript, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  // A send on a channel the client has just closed; its exit is what tells.
  child.on('error', () => {});
  const exited = new Promise((resolve) => child.once('exit', resolve));
  /** @type {(value: { ok: true } | { ok: false; message: string }) => void} */
  let onReady = () => {};
  /** @type {(value: any) => void} */
  let onResult = () => {};
  const ready = new Promise((resolve) => { onReady = resolve; });
  const result = new Promise((resolve) => { onResult = resolve; });
  let gotResult = false;
  child.on('message', (/** @type {any} */ message) => {
    if (message?.type === 'ready') onReady({ ok: true });
    else if (message?.type === 'failed') onReady({ ok: false, message: message.message });
    else if (message?.type === 'result') {
      gotResult = true;
      onResult({ ok: true, tally: tallyFromJSON(message.tally), problems: message.problems });
    }
  });
  child.once('exit', (code, signal) => {
    live.delete(child);
    const why = `client process ${index} exited (${signal ?? `code ${code}`})`;
    onReady({ ok: false, message: `${why} during setup` });
    if (!gotResult) onResult({ ok: false, message: `${why} before reporting its counts` });
  });
  return { child, ready, result, exited };
}

/**
 * @typedef {ReturnType<typeof summarize> & {
 *   ok: true; serverCores: number; loadgenCores: number; metrics: { before: any; after: any } | null; problems: string[];
 * }} LoadResult  `serverCores` NaN without a server pid or /proc; `metrics` null without `readMetrics`
 */

/**
 * Runs one load: `concurrency` slots over up to `clients` processes, `warmupMs` then `durationMs`.
 * @param {LoadOptions} options
 * @returns {Promise<{ ok: false; message: string } | LoadResult>}
 */
export async function runLoad(options) {
  stopRequested = false;
  const slots = splitConcurrency(options.concurrency, options.clients);
  const clients = slots.map((_, i) => startClient(i));
  const setup = {
    origin: options.origin, path: options.path, kind: options.kind, shmDatatype: options.shmDatatype, n: options.imagesPerRequest,
    geometry: options.geometry, jpegImages: options.kind === 'jpeg' ? options.jpegImages : undefined,
    regionPrefix: regionPrefix(process.pid), timeoutMs: options.timeoutMs ?? 60_000,
  };
  clients.forEach((c, i) => c.child.send({ type: 'setup', config: { ...setup, slots: slots[i], clientIndex: i } }));
  const readiness = await Promise.all(clients.map((c) => c.ready));
  const refused = readiness.find((r) => !r.ok);
  if (refused && !refused.ok) {
    await stopClients(5000);
    return { ok: false, message: refused.message };
  }

  const startAt = epochMs() + 100;
  const windowStart = startAt + options.warmupMs;
  const windowEnd = windowStart + options.durationMs;
  for (const c of clients) c.child.send({ type: 'run', startAt, windowStart, windowEnd });

  const sample = async () => ({
    proc: options.serverPid === undefined ? null : sampleProcess(options.serverPid),
    own: process.cpuUsage(),
    at: performance.now(),
    metrics: options.readMetrics ? await options.readMetrics() : null,
  });
  const done = Promise.all(clients.map((c) => c.result));
  // The window's edges, or as far as it got when the clients were stopped early.
  const edges = (async () => {
    await Promise.race([sleepUntil(windowStart), done]);
    const before = await sample();
    await Promise.race([sleepUntil(windowEnd), done]);
    return { before, after: await sample() };
  })();
  const results = await done;
  const { before, after } = await edges;
  // Each client exits right after its result: gone before the next load starts, or killed.
  await Promise.race([Promise.all(clients.map((c) => c.exited)), new Promise((resolve) => setTimeout(resolve, 5000))]);
  for (const c of clients) if (live.has(c.child)) c.child.kill('SIGKILL');
  const lost = results.find((r) => !r.ok);
  if (lost) return { ok: false, message: lost.message };
  if (stopRequested) return { ok: false, message: 'stopped before the window closed' };
  const tally = mergeTallies(results.map((r) => r.tally));
  const serverCores = before.proc && after.proc ? coresBetween(before.proc, after.proc, clockTicksPerSecond()) : NaN;
  const parentCores = coresFromCpuUsage(before.own, after.own, after.at - before.at);
  return {
    ok: /** @type {const} */ (true),
    ...summarize(tally, options, slots),
    serverCores,
    loadgenCores: tally.windowMs > 0 ? tally.cpuMs / tally.windowMs + parentCores : NaN,
    metrics: before.metrics && after.metrics ? { before: before.metrics, after: after.metrics } : null,
    problems: results.flatMap((r) => r.problems),
  };
}

/**
 * The figures of a merged tally over the planned window.
 * @param {import('./tally.mjs').Tally} tally @param {LoadOptions} options @param {number[]} slots
 */
function summarize(tally, options, slots) {
  const seconds = options.durationMs / 1000;
  return {
    kind: options.kind,
    concurrency: options.concurrency,
    processes: slots.length,
    imagesPerRequest: options.imagesPerRequest,
    seconds,
    requestsPerSecond: tally.okInWindow / seconds,
    imgPerSec: (tally.okInWindow * options.imagesPerRequest) / seconds,
    latency: tally.latency.summary(),
    sent: tally.sent,
    okInWindow: tally.okInWindow,
    okOutsideWindow: tally.okOutsideWindow,
    errors: failureCount(tally),
    failures: tally.failures,
    unaccounted: unaccounted(tally),
  };
}
