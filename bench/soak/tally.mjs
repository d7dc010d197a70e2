// @ts-check
/**
 * Counting what the soak's clients saw: per kind of request, how many were sent and how each ended (an HTTP
 * status, or `aborted`, `reset`, `closed`, `timeout`, an error code), with the latency of the answered ones;
 * and, for the valid requests, correct / wrong / failed by kind and by phase with the first distinct problems.
 * @module
 */
import { LatencyHistogram } from '../serve/histogram.mjs';

/** Distinct problem messages kept per kind (the counts stay exact). */
const keptProblems = 12;

/** @param {LatencyHistogram} h */
const latencyOf = (h) => {
  const s = h.summary();
  return { count: h.count, p50: s.p50, p99: s.p99, max: s.max };
};

/** Requests by kind and by how they ended. */
export class OutcomeTally {
  constructor() {
    /** @type {Map<string, { sent: number; by: Map<string, number>; latency: LatencyHistogram }>} */
    this.kinds = new Map();
  }

  /** @param {string} kind */
  entry(kind) {
    let e = this.kinds.get(kind);
    if (!e) {
      e = { sent: 0, by: new Map(), latency: new LatencyHistogram() };
      this.kinds.set(kind, e);
    }
    return e;
  }

  /** @param {string} kind */
  sent(kind) {
    this.entry(kind).sent++;
  }

  /**
   * One request ended: `how` is its HTTP status or how it ended otherwise; `ms` is recorded for answers.
   * @param {string} kind @param {string} how @param {number | null} ms
   */
  ended(kind, how, ms) {
    const e = this.entry(kind);
    e.by.set(how, (e.by.get(how) ?? 0) + 1);
    if (ms !== null) e.latency.record(ms);
  }

  toJSON() {
    /** @type {Record<string, { sent: number; by: Record<string, number>; latency: ReturnType<typeof latencyOf> }>} */
    const out = {};
    for (const [kind, e] of [...this.kinds].sort(([a], [b]) => a.localeCompare(b))) {
      out[kind] = { sent: e.sent, by: Object.fromEntries([...e.by].sort(([a], [b]) => a.localeCompare(b))), latency: latencyOf(e.latency) };
    }
    return out;
  }
}

/** @typedef {'warmup' | 'hostile' | 'settle'} Phase */

/** Valid requests: correct, wrong (a 200 with other logits) and failed (anything but a 200), by kind and phase. */
export class ValidTally {
  constructor() {
    /** @type {Map<string, { sent: number; correct: number; wrong: number; failed: number; maxDiff: number; problems: Map<string, number>; latency: LatencyHistogram }>} */
    this.kinds = new Map();
    /** @type {Map<Phase, { sent: number; correct: number; wrong: number; failed: number; latency: LatencyHistogram }>} */
    this.phases = new Map();
  }

  /** @param {string} kind @param {Phase} phase */
  sent(kind, phase) {
    this.#kind(kind).sent++;
    this.#phase(phase).sent++;
  }

  /**
   * @param {string} kind @param {Phase} phase
   * @param {{ ok: true; maxDiff: number } | { ok: false; wrong: boolean; problem: string }} check
   * @param {number} ms
   */
  ended(kind, phase, check, ms) {
    const k = this.#kind(kind);
    const p = this.#phase(phase);
    if (check.ok) {
      k.correct++;
      p.correct++;
      k.maxDiff = Math.max(k.maxDiff, check.maxDiff);
      k.latency.record(ms);
      p.latency.record(ms);
      return;
    }
    if (check.wrong) {
      k.wrong++;
      p.wrong++;
    } else {
      k.failed++;
      p.failed++;
    }
    const seen = k.problems.get(check.problem);
    if (seen !== undefined || k.problems.size < keptProblems) k.problems.set(check.problem, (seen ?? 0) + 1);
  }

  /** Sums over every kind. */
  totals() {
    let sent = 0, correct = 0, wrong = 0, failed = 0;
    for (const k of this.kinds.values()) {
      sent += k.sent;
      correct += k.correct;
      wrong += k.wrong;
      failed += k.failed;
    }
    return { sent, correct, wrong, failed };
  }

  toJSON() {
    return {
      totals: this.totals(),
      kinds: Object.fromEntries([...this.kinds].map(([kind, k]) => [kind, {
        sent: k.sent, correct: k.correct, wrong: k.wrong, failed: k.failed, maxDiff: k.maxDiff,
        problems: Object.fromEntries(k.problems), latency: latencyOf(k.latency),
      }])),
      phases: Object.fromEntries([...this.phases].map(([phase, p]) => [phase, {
        sent: p.sent, correct: p.correct, wrong: p.wrong, failed: p.failed, latency: latencyOf(p.latency),
      }])),
    };
  }

  /** @param {string} kind */
  #kind(kind) {
    let k = this.kinds.get(kind);
    if (!k) {
      k = { sent: 0, correct: 0, wrong: 0, failed: 0, maxDiff: 0, problems: new Map(), latency: new LatencyHistogram() };
      this.kinds.set(kind, k);
    }
    return k;
  }

  /** @param {Phase} phase */
  #phase(phase) {
    let p = this.phases.get(phase);
    if (!p) {
      p = { sent: 0, correct: 0, wrong: 0, failed: 0, latency: new LatencyHistogram() };
      this.phases.set(phase, p);
    }
    return p;
  }
}

/** Liveness probes by phase: answered latencies and how the others ended. */
export class ProbeTally {
  constructor() {
    /** @type {Map<Phase, { sent: number; ok: number; failed: Map<string, number>; latency: LatencyHistogram }>} */
    this.phases = new Map();
    this.all = new LatencyHistogram();
  }

  /**
   * @param {Phase} phase @param {string | null} failure null when answered 200
   * @param {number} ms
   */
  record(phase, failure, ms) {
    let p = this.phases.get(phase);
    if (!p) {
      p = { sent: 0, ok: 0, failed: new Map(), latency: new LatencyHistogram() };
      this.phases.set(phase, p);
    }
    p.sent++;
    if (failure === null) {
      p.ok++;
      p.latency.record(ms);
      this.all.record(ms);
    } else p.failed.set(failure, (p.failed.get(failure) ?? 0) + 1);
  }

  toJSON() {
    return {
      all: latencyOf(this.all),
      phases: Object.fromEntries([...this.phases].map(([phase, p]) => [phase, {
        sent: p.sent, ok: p.ok, failed: Object.fromEntries(p.failed), latency: latencyOf(p.latency),
      }])),
    };
  }
}
