// @ts-check
/**
 * bench:serve's tables, as text: the levels of every input kind, the engine-vs-server rounds, the soak.
 * Pure: the results come in, the text goes out.
 * @module
 */
import { formatTable } from '../../dist/cli/stats.js';
import { describeFailures } from './tally.mjs';

/** @param {number} v @param {number} digits */
const fixed = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
/** @param {number} b */
const mib = (b) => (b / 2 ** 20).toFixed(1);
/** @param {Record<string, number>} f */
const reasons = (f) => Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ') || '0';

/**
 * The median of finite values (NaN when none).
 * @param {readonly number[]} values
 */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
}

/** The input kinds as the table names them. @param {string} kind @param {string} shmDatatype */
export function kindLabel(kind, shmDatatype) {
  return kind === 'shm' ? `shm ${shmDatatype}` : kind;
}

/**
 * @param {any} r  bench:serve's results (see serve.mjs `results`)
 * @returns {string}
 */
export function renderReport(r) {
  const lines = [];
  lines.push(`${r.model} via resnet serve ${r.serverArgs.join(' ')}`);
  lines.push(`load: ${r.clients} client process(es) at most, closed loops of one request each (perf_analyzer's concurrency mode), ${r.imagesPerRequest} image(s) per request; ${r.warmup} s warm-up + ${r.duration} s measured per level; CPU in cores over the window`);
  const rows = r.kinds.flatMap((/** @type {any} */ k) => k.rows.map((/** @type {any} */ row) => [
    kindLabel(k.kind, r.shmDatatype), row.concurrency, fixed(row.imgPerSec, 1), fixed(row.requestsPerSecond, 1),
    fixed(row.latency.p50, 2), fixed(row.latency.p90, 2), fixed(row.latency.p99, 2), fixed(row.averageBatch, 2),
    fixed(row.serverCores, 2), fixed(row.loadgenCores, 2), row.errors,
    Number.isFinite(row.engineImgPerSec) ? `${fixed(row.engineImgPerSec, 1)} (b${row.engineBatch})` : '-', fixed(row.engineRatio, 3),
  ]));
  if (rows.length > 0) {
    lines.push(formatTable(
      ['input', 'concurrency', 'img/s', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'avg batch', 'server CPU', 'loadgen CPU', 'errors', 'engine img/s', 'server/engine'],
      rows,
    ));
  }
  for (const k of r.kinds) {
    const label = kindLabel(k.kind, r.shmDatatype);
    if (k.skipped) lines.push(`${label}: skipped: ${k.skipped}`);
    if (k.failure) lines.push(`${label}: not measured: ${k.failure}`);
    for (const row of k.rows) {
      if (row.errors > 0) {
        const first = Object.entries(row.failures).map(([cause, f]) => `${cause}: ${/** @type {any} */ (f).message}`)[0];
        lines.push(`${label} at concurrency ${row.concurrency}: errors ${describeFailures(row.failures)} (first: ${first})`);
      }
      if (Object.keys(row.serverFailures ?? {}).length > 0) lines.push(`${label} at concurrency ${row.concurrency}: server-side failures ${reasons(row.serverFailures)}`);
    }
  }
  for (const note of new Set(r.engines.map((/** @type {any} */ e) => e.note).filter(Boolean))) lines.push(`note: ${note}`);
  lines.push('(engine img/s: resnet bench at the batch the server formed, rounded, in a process of its own while the server idles; one forward at a time)');

  for (const c of r.rounds) {
    lines.push('', `server vs engine, alternating: ${kindLabel(c.kind, r.shmDatatype)} at concurrency ${c.concurrency} for ${r.duration} s; engine: resnet bench --batch ${c.batch} --threads ${r.threads}${c.input === 'uint8' ? ' on uint8 input' : ''}, median of ${r.engineIters} runs`);
    if (c.sideBySide) lines.push(`(engine side by side: ${c.sideBySide.instances} processes of resnet bench --batch ${c.batch} --threads ${c.sideBySide.instanceThreads} at once, as the server's ${c.sideBySide.instances} CPU instances run)`);
    lines.push(formatTable(
      ['round', 'server img/s', 'avg batch', 'engine img/s', 'server/engine', 'engine side by side img/s', 'server/side by side'],
      [
        ...c.rows.map((/** @type {any} */ x) => [
          x.round, fixed(x.serverImgPerSec, 2), fixed(x.averageBatch, 2), fixed(x.engineImgPerSec, 2), fixed(x.ratio, 3),
          fixed(x.sideBySideImgPerSec, 2), fixed(x.sideBySideRatio, 3),
        ]),
        ['median', fixed(c.medianServer, 2), '', fixed(c.medianEngine, 2), fixed(c.medianRatio, 3), fixed(c.medianSideBySide, 2), fixed(c.medianSideBySideRatio, 3)],
      ],
    ));
  }
  if (r.soak) {
    const s = r.soak;
    lines.push('', `soak: ${s.seconds} s of ${kindLabel(s.kind, r.shmDatatype)} at concurrency ${s.concurrency}`);
    lines.push(formatTable(
      ['requests', 'img/s', 'p99 ms', '503 (deliberate)', 'failures', 'server failures', 'RSS start MiB', 'RSS end MiB', 'RSS peak MiB', 'growth'],
      [[
        s.load.okInWindow, fixed(s.load.imgPerSec, 2), fixed(s.load.latency.p99, 2), s.rejected, s.failures, reasons(s.delta.failures),
        mib(s.rssStart), mib(s.rssEnd), mib(s.rssPeak), `${(((s.rssEnd - s.rssStart) / s.rssStart) * 100).toFixed(1)}%`,
      ]],
    ));
  }
  const d = r.shutdown;
  lines.push('', `server shutdown on SIGTERM: exit ${d.code ?? d.signal}${d.killed ? ' (killed after the deadline)' : ''}`);
  return `${lines.join('\n')}\n`;
}
