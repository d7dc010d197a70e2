// @ts-check
/**
 * The soak's verdict and its tables: the memory baseline and end read from the samples, the three checks of
 * the issue (every valid request answered correctly; RSS at the end within 20 % of the start; no crash), and
 * the text printed last: requests by kind and how they ended, valid answers by kind and phase, liveness
 * latency by phase, connections held, memory, and PASS/FAIL per check.
 * @module
 */

/** RSS at the end may exceed the start by this fraction (a drop passes: memory given back is no leak). */
export const rssTolerance = 0.2;

/** @param {number[]} values */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
}

/** The highest RSS among `samples`; NaN when none has one. @param {import('./probes.mjs').MemorySample[]} samples */
function peakOf(samples) {
  const values = samples.map((s) => s.rss).filter(Number.isFinite);
  return values.length ? Math.max(...values) : NaN;
}

/**
 * The memory figures: start = the median RSS over the last `windowS` seconds of the warm-up (valid traffic
 * only, before any hostile request), end = the same over the last `windowS` of the settle period (valid
 * traffic only again, after the hostile traffic stopped); peak = the highest sample or the kernel's VmHWM.
 * @param {import('./probes.mjs').MemorySample[]} samples @param {number} hwm @param {number} windowS
 */
export function summarizeMemory(samples, hwm, windowS) {
  const tail = (/** @type {string} */ phase, /** @type {'rss' | 'metricsRss'} */ field) => {
    const inPhase = samples.filter((s) => s.phase === phase);
    const last = inPhase.at(-1);
    if (!last) return NaN;
    return median(inPhase.filter((s) => s.t >= last.t - windowS).map((s) => s[field] ?? NaN));
  };
  const startBytes = tail('warmup', 'rss');
  const endBytes = tail('settle', 'rss');
  // The first and last sample of the end window: a server still working off the hostile phase shows as a fall.
  const settled = samples.filter((s) => s.phase === 'settle' && Number.isFinite(s.rss));
  const endWindow = settled.filter((s) => s.t >= (settled.at(-1)?.t ?? 0) - windowS);
  // VmHWM is the kernel's own peak, between samples too; gone with the process (NaN), the samples remain.
  const peakBytes = Number.isFinite(hwm) ? Math.max(hwm, peakOf(samples) || 0) : peakOf(samples);
  return {
    startBytes, endBytes, peakBytes, ratio: endBytes / startBytes, windowS,
    endWindowFirstBytes: endWindow[0]?.rss ?? NaN, endWindowLastBytes: endWindow.at(-1)?.rss ?? NaN,
    metricsStartBytes: tail('warmup', 'metricsRss'), metricsEndBytes: tail('settle', 'metricsRss'),
    hostilePeakBytes: peakOf(samples.filter((s) => s.phase === 'hostile')),
  };
}

/**
 * The checks, each with why it passed or failed.
 * @param {{ valid: ReturnType<import('./tally.mjs').ValidTally['toJSON']>; memory: ReturnType<typeof summarizeMemory>;
 *   server: { exitedEarly: { code: number | null; signal: string | null } | null; finalLive: string } }} r
 */
export function checksOf(r) {
  const t = r.valid.totals;
  const unanswered = t.sent - t.correct - t.wrong - t.failed;
  return [
    {
      name: 'all valid requests answered correctly',
      pass: t.sent > 0 && t.correct === t.sent,
      detail: `${t.correct} of ${t.sent} correct, ${t.wrong} wrong, ${t.failed} failed${unanswered ? `, ${unanswered} unaccounted` : ''}`,
    },
    {
      name: `RSS at the end within ${rssTolerance * 100}% of the start`,
      pass: Number.isFinite(r.memory.ratio) && r.memory.ratio <= 1 + rssTolerance,
      detail: `end/start ${fixed(r.memory.ratio, 3)} (${mib(r.memory.endBytes)} / ${mib(r.memory.startBytes)})`,
    },
    {
      name: 'no crash',
      pass: r.server.exitedEarly === null && r.server.finalLive === 'ok',
      detail: r.server.exitedEarly !== null
        ? `the server exited during the soak (${JSON.stringify(r.server.exitedEarly)})`
        : `alive at the end; final liveness probe: ${r.server.finalLive}`,
    },
  ];
}

/**
 * What the issue's other items look like in this run, as lines of text (not checks: the issue's soak asks
 * only for the three above, and these help tell which defect is behind a failure): 5xx answers to hostile
 * requests, oversized bodies whose 413 the client could read, connections the server reaped, slow clients
 * it cut off, liveness and valid throughput while the hostile clients ran.
 * @param {any} r the results (soak.mjs)
 */
export function observationsOf(r) {
  const hostile = Object.entries(r.hostile).map(([kind, h]) => ({ kind, .../** @type {any} */ (h) }));
  const count = (/** @type {any} */ h, /** @type {(how: string) => boolean} */ match) => Object.entries(h.by).reduce((n, [how, c]) => (match(how) ? n + /** @type {number} */ (c) : n), 0);
  const serverErrors = hostile.map((h) => ({ kind: h.kind, n: count(h, (how) => /^(100→)?5\d\d$/.test(how) && !how.endsWith('503')) })).filter((e) => e.n > 0);
  const oversized = hostile.filter((h) => h.kind.startsWith('oversized'));
  const refusals = oversized.reduce((n, h) => n + count(h, (how) => how.endsWith('413')), 0);
  const lost = oversized.reduce((n, h) => n + count(h, (how) => ['reset', 'closed', 'EPIPE', 'ECONNRESET'].includes(how)), 0);
  const continued = oversized.reduce((n, h) => n + count(h, (how) => how.startsWith('100→')), 0);
  const slow = hostile.filter((h) => h.kind.startsWith('slow'));
  const slowCut = slow.reduce((n, h) => n + count(h, (how) => how !== 'aborted'), 0);
  const slowSent = slow.reduce((n, h) => n + h.sent, 0);
  const rate = (/** @type {string} */ phase, /** @type {number} */ seconds) => `${fixed((r.valid.phases[phase]?.correct ?? 0) / seconds)}/s`;
  const live = r.liveness.phases.hostile;
  return [
    `5xx answers to hostile requests (503 aside): ${serverErrors.length ? serverErrors.map((e) => `${e.kind} ×${e.n}`).join(', ') : 'none'}`,
    `oversized bodies: ${refusals} of ${oversized.reduce((n, h) => n + h.sent, 0)} refusals read (413), ${lost} lost to a reset or close before the status, ${continued} after a 100 Continue`,
    ...r.connections.map((/** @type {any} */ c) => `${c.kind} connections: ${c.closedByServer} of ${c.opened} closed by the server`),
    `slow clients: ${slowCut} of ${slowSent} cut off by the server before the phase ended`,
    `liveness while hostile: ${live ? `${live.ok} of ${live.sent} probes answered within 10 s, p99 ${fixed(live.latency.p99)} ms` : 'not probed'}`,
    `valid answers per second: warm-up ${rate('warmup', r.phases.warmupS)}, hostile ${rate('hostile', r.phases.hostileS)}, settle ${rate('settle', r.phases.settleS)}`,
  ];
}

/** @param {number} bytes */
const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : 'n/a');
/** @param {number} x @param {number} [digits] */
const fixed = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
/** @param {{ p50: number; p99: number; max: number }} l */
const latency = (l) => `${fixed(l.p50)} / ${fixed(l.p99)} / ${fixed(l.max)}`;

/** Columns padded to their widest cell; the first left-aligned, the rest right-aligned. @param {string[][]} rows */
function table(rows) {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** `400×12 aborted×3`, the most frequent first. @param {Record<string, number>} by */
const endings = (by) => Object.entries(by).sort(([, a], [, b]) => b - a).map(([how, n]) => `${how}×${n}`).join(' ');

/**
 * The soak's report as text.
 * @param {any} r the results (soak.mjs)
 */
export function renderSoakReport(r) {
  const out = [];
  out.push(`soak of resnet serve: ${r.model.arch} (${r.model.weights}), server flags: ${r.server.args.join(' ')}`);
  out.push(`phases: warm-up ${r.phases.warmupS} s (valid only), hostile ${r.phases.hostileS} s (valid + hostile), settle ${r.phases.settleS} s (valid only)`);
  out.push('');
  out.push(`valid requests (checked against the library's logits: |diff| <= ${r.tolerance.relative} x max(1, max |ref|))`);
  const validRows = [['kind', 'sent', 'correct', 'wrong', 'failed', 'max diff', 'p50 / p99 / max ms']];
  for (const [kind, k] of Object.entries(r.valid.kinds)) {
    const v = /** @type {any} */ (k);
    validRows.push([kind, String(v.sent), String(v.correct), String(v.wrong), String(v.failed), v.correct ? v.maxDiff.toExponential(1) : 'n/a', latency(v.latency)]);
  }
  for (const [phase, p] of Object.entries(r.valid.phases)) {
    const v = /** @type {any} */ (p);
    validRows.push([`(${phase})`, String(v.sent), String(v.correct), String(v.wrong), String(v.failed), '', latency(v.latency)]);
  }
  const t = r.valid.totals;
  validRows.push(['total', String(t.sent), String(t.correct), String(t.wrong), String(t.failed), '', '']);
  out.push(table(validRows));
  const problems = Object.entries(r.valid.kinds).flatMap(([kind, k]) => Object.entries(/** @type {any} */ (k).problems).map(([p, n]) => `  ${kind}: ${n}× ${p}`));
  if (problems.length) out.push('valid requests that were not answered correctly:', ...problems.slice(0, 30));
  out.push('');
  out.push('hostile requests by kind and how they ended (status, or aborted = left on purpose, reset, closed, timeout)');
  const hostileRows = [['kind', 'sent', 'answered p50 / p99 / max ms', 'endings']];
  for (const [kind, k] of Object.entries(r.hostile)) {
    const h = /** @type {any} */ (k);
    hostileRows.push([kind, String(h.sent), h.latency.count ? latency(h.latency) : '-', endings(h.by)]);
  }
  out.push(table(hostileRows));
  out.push('');
  out.push('connections held (closed by server: how many, and after how long)');
  const connectionRows = [['kind', 'target', 'opened', 'open at end', 'closed by server', 'after p50 / max s', 'errors']];
  for (const c of r.connections) {
    connectionRows.push([c.kind, String(c.target), String(c.opened), String(c.openAtEnd), String(c.closedByServer),
      c.closedByServer ? `${fixed(c.closedAfterMs.p50 / 1000)} / ${fixed(c.closedAfterMs.max / 1000)}` : '-', endings(c.errors) || '-']);
  }
  out.push(table(connectionRows));
  out.push('');
  out.push(`liveness (GET /v2/health/live on a new connection every ${r.options.probeIntervalMs} ms, 10 s deadline)`);
  const liveRows = [['phase', 'probes', 'ok', 'p50 ms', 'p99 ms', 'max ms', 'failed']];
  for (const [phase, p] of Object.entries(r.liveness.phases)) {
    const v = /** @type {any} */ (p);
    liveRows.push([phase, String(v.sent), String(v.ok), fixed(v.latency.p50), fixed(v.latency.p99), fixed(v.latency.max), endings(v.failed) || '-']);
  }
  liveRows.push(['all', '', String(r.liveness.all.count), fixed(r.liveness.all.p50), fixed(r.liveness.all.p99), fixed(r.liveness.all.max), '']);
  out.push(table(liveRows));
  out.push(`(the soak's own event loop: p99 ${fixed(r.ownEventLoop.p99)} ms, max ${fixed(r.ownEventLoop.max)} ms)`);
  out.push('');
  const m = r.memory;
  out.push(`server RSS (/proc VmRSS; start and end: medians over the last ${m.windowS} s of warm-up and settle)`);
  out.push(table([
    ['', 'start', 'hostile peak', 'peak (VmHWM)', 'end', 'end/start'],
    ['/proc', mib(m.startBytes), mib(m.hostilePeakBytes), mib(m.peakBytes), mib(m.endBytes), fixed(m.ratio, 3)],
    ['/metrics', mib(m.metricsStartBytes), '', '', mib(m.metricsEndBytes), fixed(m.metricsEndBytes / m.metricsStartBytes, 3)],
  ]));
  out.push(`(end window: ${mib(m.endWindowFirstBytes)} at its start, ${mib(m.endWindowLastBytes)} at its end; a fall means the server was still working off the hostile phase)`);
  const s = r.server.shutdown;
  out.push(`shutdown (SIGTERM after the soak): ${s ? `exit code ${s.code}${s.signal ? `, signal ${s.signal}` : ''}${s.killed ? ', killed after the grace period' : ''}` : 'n/a'}`);
  out.push('');
  out.push('observations (not checks)');
  for (const line of observationsOf(r)) out.push(`  ${line}`);
  out.push('');
  for (const c of r.checks) out.push(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  out.push(r.pass ? 'soak: PASS' : 'soak: FAIL');
  return `${out.join('\n')}\n`;
}
