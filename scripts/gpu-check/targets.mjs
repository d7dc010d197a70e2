// The issue's targets (issue 3, "Targets") and the serving targets (resnet serve under the load generator),
// evaluated from measured numbers: each met, missed (and by how much), or not measured (and why). Pure: the
// numbers come in, records go out.
import { formatMs, formatPercent, formatRate, formatRatio, formatError } from './table.mjs';

/** FLOP per 224×224 ResNet-50 image: 2 × torchvision's 4.089 GMAC (reference/cudnn.md §1.0). */
export const RESNET50_FLOP_PER_IMAGE = 8.18e9;

/**
 * @typedef {object} TargetInputs  Medians in milliseconds per batch, all resnet50 FP16 at 224×224;
 *   undefined where not measured. `notes` says why a number is missing (e.g. torch.compile's timeout).
 * @property {number} [oursB256Ms]     ours, batch 256, host tensor in → host tensor out
 * @property {number} [oursB1Ms]       ours, batch 1
 * @property {number} [eagerB256Ms]    PyTorch eager, channels_last + autocast, device-only (CUDA events)
 * @property {number} [eagerB256E2eMs] the same, host tensor → .cuda() → forward → .cpu()
 * @property {number} [eagerB1Ms]
 * @property {number} [eagerB1E2eMs]
 * @property {number} [compileB256Ms]  torch.compile default mode, device-only
 * @property {number} [compileB1Ms]    torch.compile mode="reduce-overhead" (CUDA graphs), device-only
 * @property {number} [peakTflops]     measured dense FP16 matmul peak
 * @property {number} [fp32ParityWorst] worst relative L2 of our FP32 GPU logits against torchvision's
 * @property {number} [fp32ParityCount] how many models that covers
 * @property {Record<string, string>} [notes] why an input is missing, by input name
 */

/**
 * @typedef {object} Target
 * @property {string} id
 * @property {string} label      what is asked, as the issue says it
 * @property {'met' | 'missed' | 'not measured'} status
 * @property {number | null} value    the measured quantity the goal is about
 * @property {number} goal
 * @property {number | null} shortfall  the fraction by which it was missed (0 when met, null when not measured)
 * @property {string} text       one line: the numbers and the verdict
 */

/**
 * @param {number | undefined} value
 * @returns {value is number}
 */
const measured = (value) => typeof value === 'number' && Number.isFinite(value) && value > 0;

/**
 * A goal of the form value ≥ goal (or > goal when `strict`).
 * @param {string} id @param {string} label @param {number} value @param {number} goal
 * @param {(v: number) => string} show @param {string} detail @param {boolean} [strict]
 * @returns {Target}
 */
function atLeast(id, label, value, goal, show, detail, strict = false) {
  const met = strict ? value > goal : value >= goal;
  const shortfall = met ? 0 : (goal - value) / goal;
  const verdict = met ? `met (${show(value)} vs ${show(goal)} asked)` : `missed by ${formatPercent(shortfall)} (${show(value)} vs ${show(goal)} asked)`;
  return { id, label, status: met ? 'met' : 'missed', value, goal, shortfall, text: `${verdict}; ${detail}` };
}

/**
 * A goal of the form value ≤ goal (or < goal when `strict`); the shortfall is how far over the goal it is.
 * @param {string} id @param {string} label @param {number} value @param {number} goal
 * @param {(v: number) => string} show @param {string} detail @param {boolean} [strict]
 * @returns {Target}
 */
function atMost(id, label, value, goal, show, detail, strict = false) {
  const met = strict ? value < goal : value <= goal;
  const shortfall = met ? 0 : (value - goal) / goal;
  const verdict = met ? `met (${show(value)} vs ${show(goal)} allowed)` : `missed by ${formatPercent(shortfall)} (${show(value)} vs ${show(goal)} allowed)`;
  return { id, label, status: met ? 'met' : 'missed', value, goal, shortfall, text: `${verdict}; ${detail}` };
}

/**
 * @param {string} id @param {string} label @param {number} goal @param {string} why
 * @returns {Target}
 */
function notMeasured(id, label, goal, why) {
  return { id, label, status: 'not measured', value: null, goal, shortfall: null, text: `not measured: ${why}` };
}

/**
 * The first missing input's note, or a generic reason.
 * @param {TargetInputs} inputs @param {string[]} names
 * @returns {string}
 */
function whyMissing(inputs, names) {
  for (const name of names) {
    const value = /** @type {Record<string, unknown>} */ (inputs)[name];
    if (!measured(/** @type {number | undefined} */ (value))) return inputs.notes?.[name] ?? `${name} was not measured`;
  }
  return 'an input was not measured';
}

/**
 * Evaluates the issue's targets. Throughput ratios at one batch size are latency ratios inverted, so
 * "1.5× eager" is eagerMs / oursMs ≥ 1.5. PyTorch is compared device-only (CUDA events, input already on
 * the GPU), as the issue times it, which is the stricter comparison for ours (end-to-end); the end-to-end
 * ratio is given beside it.
 * @param {TargetInputs} inputs
 * @returns {Target[]}
 */
export function evaluateTargets(inputs) {
  /** @type {Target[]} */
  const targets = [];
  const x = formatRatio;
  const ms = (/** @type {number} */ v) => `${formatMs(v)} ms`;
  const e2eNote = (/** @type {number | undefined} */ e2e, /** @type {number} */ ours) =>
    measured(e2e) ? `end-to-end eager ${ms(e2e)}: ${x(e2e / ours)}` : 'end-to-end eager not measured';

  const a = 'fp16-b256-vs-eager';
  const aLabel = 'FP16 batch 256 throughput ≥ 1.5× PyTorch eager';
  if (measured(inputs.oursB256Ms) && measured(inputs.eagerB256Ms)) {
    const ratio = inputs.eagerB256Ms / inputs.oursB256Ms;
    targets.push(atLeast(a, aLabel, ratio, 1.5, x, `ours ${ms(inputs.oursB256Ms)}, eager ${ms(inputs.eagerB256Ms)} device-only; ${e2eNote(inputs.eagerB256E2eMs, inputs.oursB256Ms)}`));
  } else targets.push(notMeasured(a, aLabel, 1.5, whyMissing(inputs, ['oursB256Ms', 'eagerB256Ms'])));

  const b = 'fp16-b256-vs-compile';
  const bLabel = 'FP16 batch 256 throughput ≥ torch.compile (default mode)';
  if (measured(inputs.oursB256Ms) && measured(inputs.compileB256Ms)) {
    const ratio = inputs.compileB256Ms / inputs.oursB256Ms;
    targets.push(atLeast(b, bLabel, ratio, 1, x, `ours ${ms(inputs.oursB256Ms)}, torch.compile ${ms(inputs.compileB256Ms)} device-only`));
  } else targets.push(notMeasured(b, bLabel, 1, whyMissing(inputs, ['oursB256Ms', 'compileB256Ms'])));

  const c = 'fp16-b256-peak';
  const cLabel = 'FP16 batch 256 ≥ 35% of the measured dense FP16 matmul peak';
  if (measured(inputs.oursB256Ms) && measured(inputs.peakTflops)) {
    const achieved = (256 * RESNET50_FLOP_PER_IMAGE) / (inputs.oursB256Ms / 1000);
    const fraction = achieved / (inputs.peakTflops * 1e12);
    targets.push(atLeast(c, cLabel, fraction, 0.35, formatPercent, `${(achieved / 1e12).toFixed(1)} of ${inputs.peakTflops.toFixed(1)} TFLOP/s at 8.18 GFLOP/image`));
  } else targets.push(notMeasured(c, cLabel, 0.35, whyMissing(inputs, ['oursB256Ms', 'peakTflops'])));

  const d = 'fp16-b1-vs-eager';
  const dLabel = 'FP16 batch 1 latency ≤ 1/3 of PyTorch eager';
  if (measured(inputs.oursB1Ms) && measured(inputs.eagerB1Ms)) {
    const ratio = inputs.oursB1Ms / inputs.eagerB1Ms;
    targets.push(atMost(d, dLabel, ratio, 1 / 3, x, `ours ${ms(inputs.oursB1Ms)}, eager ${ms(inputs.eagerB1Ms)} device-only; ${measured(inputs.eagerB1E2eMs) ? `end-to-end eager ${ms(inputs.eagerB1E2eMs)}: ${x(inputs.oursB1Ms / inputs.eagerB1E2eMs)}` : 'end-to-end eager not measured'}`));
  } else targets.push(notMeasured(d, dLabel, 1 / 3, whyMissing(inputs, ['oursB1Ms', 'eagerB1Ms'])));

  const e = 'fp16-b1-vs-compile';
  const eLabel = 'FP16 batch 1 latency ≤ torch.compile mode="reduce-overhead"';
  if (measured(inputs.oursB1Ms) && measured(inputs.compileB1Ms)) {
    targets.push(atMost(e, eLabel, inputs.oursB1Ms, inputs.compileB1Ms, ms, `ratio ${x(inputs.oursB1Ms / inputs.compileB1Ms)}`));
  } else targets.push(notMeasured(e, eLabel, NaN, whyMissing(inputs, ['oursB1Ms', 'compileB1Ms'])));

  const f = 'fp16-b1-under-1ms';
  const fLabel = 'FP16 batch 1 latency < 1 ms';
  if (measured(inputs.oursB1Ms)) targets.push(atMost(f, fLabel, inputs.oursB1Ms, 1, ms, 'host tensor in → host tensor out', true));
  else targets.push(notMeasured(f, fLabel, 1, whyMissing(inputs, ['oursB1Ms'])));

  const g = 'fp32-parity';
  const gLabel = 'FP32 (TF32 off) logits within 1e-4 relative L2 of torchvision';
  const worst = inputs.fp32ParityWorst;
  if (typeof worst === 'number' && (inputs.fp32ParityCount ?? 0) > 0) {
    const ok = worst <= 1e-4; // NaN fails
    targets.push({
      id: g,
      label: gLabel,
      status: ok ? 'met' : 'missed',
      value: worst,
      goal: 1e-4,
      shortfall: ok ? 0 : Number.isFinite(worst) ? (worst - 1e-4) / 1e-4 : Infinity,
      text: `${ok ? 'met' : 'missed'}: worst ${formatError(worst)} over ${inputs.fp32ParityCount} model(s)`,
    });
  } else targets.push(notMeasured(g, gLabel, 1e-4, inputs.notes?.fp32ParityWorst ?? 'no FP32 GPU logits were compared with torchvision'));
  return targets;
}

/** The serving targets' throughput goals in img/s, resnet50 FP16 on one GPU, one image per request. */
export const SERVE_GOALS = { uint8: 12_000, shm: 20_000, jpeg: 8_000, fp32: 4_000 };
/** p99 latency allowed at the concurrency that reaches a throughput goal, and uint8's p50 at concurrency 1. */
export const SERVE_P99_MS = 50;
export const SERVE_UINT8_C1_P50_MS = 1.0;

const serveLabels = {
  uint8: 'UINT8 pixels over HTTP', shm: 'system shared memory', jpeg: 'JPEG over HTTP', fp32: 'FP32 over HTTP',
};

/**
 * @typedef {object} ServeLevel  one measured concurrency level of one input kind
 * @property {number} concurrency
 * @property {number} imgPerSec
 * @property {number} p50Ms
 * @property {number} p99Ms
 */

/**
 * @typedef {object} ServeKindResult
 * @property {ServeLevel[]} levels
 * @property {string} [why]  why nothing (or not everything) was measured: the server's refusal, no photos, time
 */

/**
 * Evaluates the serving targets from the load generator's levels. A throughput goal is met at the lowest
 * concurrency that reaches it, and the p99 goal is judged there; where no level reached it, the p99 goal
 * has no concurrency to be judged at and is not measured (the best level is quoted).
 * @param {Partial<Record<keyof typeof SERVE_GOALS, ServeKindResult>>} kinds
 * @param {string} [why]  why nothing counts as measured (a dry run, the part skipped): every target is then not measured
 * @returns {Target[]}
 */
export function evaluateServeTargets(kinds, why) {
  /** @type {Target[]} */
  const targets = [];
  const rate = (/** @type {number} */ v) => `${formatRate(v)} img/s`;
  const ms = (/** @type {number} */ v) => `${formatMs(v)} ms`;
  const at = (/** @type {ServeLevel} */ l) => `at concurrency ${l.concurrency} (p50 ${ms(l.p50Ms)}, p99 ${ms(l.p99Ms)})`;
  for (const kind of /** @type {(keyof typeof SERVE_GOALS)[]} */ (Object.keys(SERVE_GOALS))) {
    const goal = SERVE_GOALS[kind];
    const label = `serve ${serveLabels[kind]} ≥ ${goal.toLocaleString('en-US')} img/s`;
    const p99Label = `serve ${serveLabels[kind]}: p99 ≤ ${SERVE_P99_MS} ms at the concurrency that reaches ${goal.toLocaleString('en-US')} img/s`;
    const result = kinds[kind];
    // `why` (a dry run, the part skipped) overrides whatever figures there are.
    const levels = why === undefined ? (result?.levels ?? []).filter((l) => measured(l.imgPerSec)) : [];
    const reason = why ?? result?.why ?? `${kind} was not measured`;
    if (levels.length === 0) {
      targets.push(notMeasured(`serve-${kind}`, label, goal, reason), notMeasured(`serve-${kind}-p99`, p99Label, SERVE_P99_MS, reason));
      continue;
    }
    const reached = [...levels].sort((a, b) => a.concurrency - b.concurrency).find((l) => l.imgPerSec >= goal);
    const best = levels.reduce((a, b) => (b.imgPerSec > a.imgPerSec ? b : a));
    const shown = reached ?? best;
    targets.push(atLeast(`serve-${kind}`, label, shown.imgPerSec, goal, rate, `${reached ? '' : 'best '}${at(shown)}${result?.why ? `; ${result.why}` : ''}`));
    if (reached) targets.push(atMost(`serve-${kind}-p99`, p99Label, reached.p99Ms, SERVE_P99_MS, ms, `at concurrency ${reached.concurrency}, ${rate(reached.imgPerSec)}`));
    else targets.push(notMeasured(`serve-${kind}-p99`, p99Label, SERVE_P99_MS, `no level reached ${rate(goal)} (best ${rate(best.imgPerSec)} ${at(best)})`));
  }
  const c1Label = `serve UINT8 over HTTP at concurrency 1: p50 ≤ ${SERVE_UINT8_C1_P50_MS} ms`;
  const one = why === undefined ? kinds.uint8?.levels.find((l) => l.concurrency === 1 && measured(l.p50Ms)) : undefined;
  if (one) targets.push(atMost('serve-uint8-c1-p50', c1Label, one.p50Ms, SERVE_UINT8_C1_P50_MS, ms, `p99 ${ms(one.p99Ms)}, ${rate(one.imgPerSec)}`));
  else targets.push(notMeasured('serve-uint8-c1-p50', c1Label, SERVE_UINT8_C1_P50_MS, why ?? kinds.uint8?.why ?? 'uint8 at concurrency 1 was not measured'));
  return targets;
}

/**
 * The next concurrency level to try for a kind, or null to stop: start at `start`, multiply by `factor`
 * while the goal is not reached, p99 stays within its bound (more concurrency would only queue longer),
 * throughput still grows by 10 % a step (else the server is saturated) and `max` is not passed.
 * @param {readonly ServeLevel[]} done  the kind's levels so far, in the order run (concurrency 1 of uint8 excluded)
 * @param {number} goal img/s
 * @param {{ start: number; factor: number; max: number }} plan
 * @returns {number | null}
 */
export function nextServeLevel(done, goal, plan) {
  const last = done.at(-1);
  if (last === undefined) return plan.start;
  if (last.imgPerSec >= goal || !(last.p99Ms <= SERVE_P99_MS)) return null;
  const previous = done.at(-2);
  if (previous !== undefined && last.imgPerSec < previous.imgPerSec * 1.1) return null;
  const next = last.concurrency * plan.factor;
  return next <= plan.max ? next : null;
}

/** The engine's host-path goals (issue 12 §1), resnet50 FP16 on one H100. */
export const HOST_PATH_GOALS = Object.freeze({
  deviceB256ImgPerSec: 30_000,
  uint8B256Share: 0.85,
  uint8B32Share: 0.7,
  float32B256Share: 0.6,
  uint8B1P50Ms: 0.4,
});

/**
 * The host-path targets from bench.json's `hostPath` records (host-path.mjs) and the FP16 batch-256
 * device-only figure of the bench cells. `why` (a dry run, the part skipped) overrides the figures.
 * @param {readonly any[]} records @param {number | undefined} deviceB256ImgPerSec @param {string | undefined} why
 * @returns {Target[]}
 */
export function evaluateHostPathTargets(records, deviceB256ImgPerSec, why) {
  const g = HOST_PATH_GOALS;
  const rate = (/** @type {number} */ v) => `${formatRate(v)} img/s`;
  const share = (/** @type {number} */ v) => formatPercent(v);
  const ms = (/** @type {number} */ v) => `${formatMs(v)} ms`;
  /** @type {Target[]} */
  const targets = [];
  const deviceLabel = `FP16 batch 256 device-only ≥ ${g.deviceB256ImgPerSec.toLocaleString('en-US')} img/s`;
  if (why === undefined && measured(deviceB256ImgPerSec)) {
    targets.push(atLeast('engine-device-b256', deviceLabel, deviceB256ImgPerSec, g.deviceB256ImgPerSec, rate, 'the bench cell (CUDA events)'));
  } else targets.push(notMeasured('engine-device-b256', deviceLabel, g.deviceB256ImgPerSec, why ?? 'the FP16 batch-256 cell has no device-only time'));
  const find = (/** @type {number} */ batch, /** @type {string} */ dtype) => records.find((r) => r.batch === batch && r.dtype === dtype);
  const reasonOf = (/** @type {any} */ r, /** @type {string} */ what) => why ?? r?.skipped ?? r?.error ?? `${what} was not measured`;
  for (const [id, batch, dtype, goal] of /** @type {const} */ ([
    ['e2e-uint8-b256', 256, 'uint8', g.uint8B256Share],
    ['e2e-uint8-b32', 32, 'uint8', g.uint8B32Share],
    ['e2e-float32-b256', 256, 'float32', g.float32B256Share],
  ])) {
    const r = find(batch, dtype);
    const label = `end to end, ${dtype === 'uint8' ? 'uint8 NHWC' : 'float32'} host input, batch ${batch}: ≥ ${share(goal)} of device-only`;
    if (why === undefined && r && measured(r.shareOfDevice)) {
      targets.push(atLeast(id, label, r.shareOfDevice, goal, share, `${rate(r.e2eImgPerSec)} with ${r.inFlight} in flight vs ${rate(r.deviceImgPerSec)} device-only`));
    } else targets.push(notMeasured(id, label, goal, reasonOf(r, `${dtype} batch ${batch}`)));
  }
  const one = find(1, 'uint8');
  const oneLabel = `batch 1, uint8 host input: end-to-end p50 ≤ ${formatMs(g.uint8B1P50Ms)} ms`;
  if (why === undefined && one && measured(one.e2eMedianMs)) {
    targets.push(atMost('e2e-uint8-b1-p50', oneLabel, one.e2eMedianMs, g.uint8B1P50Ms, ms, `p90 ${ms(one.e2eP90Ms)}; device-only ${one.deviceMedianMs === null ? '?' : ms(one.deviceMedianMs)}`));
  } else targets.push(notMeasured('e2e-uint8-b1-p50', oneLabel, g.uint8B1P50Ms, reasonOf(one, 'uint8 batch 1')));
  return targets;
}
