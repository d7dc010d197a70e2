// The serve part in the summary: its check (each concurrent client's row), its levels as a table, and the
// serving targets. Pure: serve.json's content comes in, records and lines go out.
import { evaluateServeTargets } from './targets.mjs';
import { MISSING, formatMs, formatRate, formatTable, oneLine } from './table.mjs';
import { numberFromJson } from './results.mjs';

/** A number read back from serve.json; NaN where there is none. @param {unknown} value */
const num = (value) => numberFromJson(value) ?? NaN;

/**
 * The serve part's checks: the rows of concurrent clients against the same images sent alone, or why
 * there was none.
 * @param {any} serve  serve.json, undefined when the part left none
 * @returns {any[]}
 */
export function serveChecks(serve) {
  const rows = serve?.rows;
  if (rows) {
    const name = `serve: ${rows.count} concurrent clients each get their own row (vs the same image alone)`;
    return [{ group: 'serve', name, precision: rows.precision, error: num(rows.worstRelativeL2), tolerance: rows.tolerance, passed: rows.passed === true }];
  }
  if (serve?.skipped) return [{ group: 'serve', name: 'serve part', skipped: serve.skipped }];
  if (serve?.error) return [{ group: 'serve', name: 'serve part', passed: false, message: serve.error }];
  return [];
}

/**
 * The serve part's levels (one row per input kind and concurrency), why a kind has none or stopped, and
 * the serving targets (not measured in a dry run, whose figures are the CPU's).
 * @param {{ dryRun: boolean; serve?: any }} inputs
 */
export function serveOf(inputs) {
  const serve = inputs.serve;
  /** @type {Record<string, any>} */
  const kinds = serve?.kinds ?? {};
  const rows = Object.entries(kinds).flatMap(([kind, k]) => (k.levels ?? []).map((/** @type {any} */ l) => ({
    kind, ...l, imgPerSec: num(l.imgPerSec), p50Ms: num(l.p50Ms), p99Ms: num(l.p99Ms), averageBatch: num(l.averageBatch),
    serverCores: num(l.serverCores), loadgenCores: num(l.loadgenCores),
  })));
  const notes = Object.entries(kinds).filter(([, k]) => k.why).map(([kind, k]) => `${kind}: ${k.why}`);
  const why = inputs.dryRun ? 'a dry run measures no GPU figures'
    : serve === undefined ? 'the serve part left no results'
      : serve.skipped ?? (serve.error && rows.length === 0 ? `the serve part failed: ${serve.error}` : undefined);
  const byKind = Object.fromEntries(Object.entries(kinds).map(([kind, k]) => [kind, { levels: rows.filter((r) => r.kind === kind), why: k.why }]));
  return {
    model: serve?.model ?? null,
    clients: serve?.clients ?? null,
    windowMs: serve?.durationMs ?? null,
    loadSeconds: Number.isFinite(num(serve?.loadSeconds)) ? num(serve.loadSeconds) : null,
    skipped: serve?.skipped ?? null,
    shmNote: serve?.shmNote ?? null,
    imageDecoder: serve?.imageDecoder ?? null,
    imageDecoderNote: serve?.imageDecoderNote ?? null,
    rows,
    notes,
    targets: evaluateServeTargets(byKind, why),
  };
}

/**
 * The serve section of summary.md: the levels table, the notes, the serving targets table.
 * @param {ReturnType<typeof serveOf>} sv
 * @returns {string[]}
 */
export function renderServe(sv) {
  const lines = [];
  const cores = (/** @type {number} */ v) => (Number.isFinite(v) ? v.toFixed(2) : MISSING);
  lines.push('', `## resnet serve under load${sv.model ? ` (${sv.model}, ${sv.clients} client processes, closed loops of one request each, ${sv.windowMs} ms windows)` : ''}`, '');
  if (sv.loadSeconds !== null) lines.push(`Server ready in ${sv.loadSeconds.toFixed(1)} s; CPU in cores over the window.${sv.shmNote ? ` ${sv.shmNote}.` : ''}`, '');
  if (sv.imageDecoder !== null || sv.imageDecoderNote !== null) {
    lines.push(`JPEG images (the jpeg input) decoded by: ${sv.imageDecoder ?? 'not said'}.${sv.imageDecoderNote ? ` **${oneLine(sv.imageDecoderNote, 300)}.**` : ''}`, '');
  }
  if (sv.rows.length > 0) {
    lines.push(formatTable(
      ['input', 'concurrency', 'img/s', 'p50 ms', 'p99 ms', 'avg batch', 'server CPU', 'loadgen CPU', 'errors'],
      sv.rows.map((/** @type {any} */ r) => [
        r.kind, String(r.concurrency), formatRate(r.imgPerSec), formatMs(r.p50Ms), formatMs(r.p99Ms),
        Number.isFinite(r.averageBatch) ? r.averageBatch.toFixed(1) : MISSING, cores(r.serverCores), cores(r.loadgenCores),
        oneLine(String(r.failures ?? r.errors), 80),
      ]),
      { align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'] },
    ));
  } else lines.push(`Nothing measured${sv.skipped ? `: ${oneLine(sv.skipped, 300)}` : ''}.`);
  if (sv.notes.length > 0) lines.push('');
  for (const note of sv.notes) lines.push(`- ${oneLine(note, 400)}`);
  lines.push('', '## Serving targets', '');
  lines.push(formatTable(['target', 'status', 'measured'], sv.targets.map((x) => [x.label, x.status, oneLine(x.text, 300)])));
  return lines;
}
