// @ts-check
/**
 * The soak's hostile clients, each a loop of raw exchanges (raw-http.mjs) until the hostile phase ends:
 * - image clients cycle through the hostile images, sending half of them whole and reading the answer,
 *   a quarter whole but leaving 300 ms later without waiting for it, a quarter leaving halfway through the
 *   body (a server should stop work for clients that have gone);
 * - JSON clients cycle through the nested and the large JSON bodies and the oversized binary body (plain,
 *   and with `Expect: 100-continue`);
 * - slow clients trickle a request's headers a byte at a time, or send headers and then a body at 64 bytes a
 *   second, and see how long the server keeps them.
 * Every request is counted by kind and by how it ended (an OutcomeTally).
 * @module
 */
import { setMaxListeners } from 'node:events';
import { exchange, postHead } from './raw-http.mjs';

/** How long a hostile exchange may last before the client gives up (a server that holds it longer is counted). */
const exchangeDeadlineMs = 120_000;

/**
 * How an exchange ended, as the tally keys it: the status, or the outcome (with the error code for errors).
 * @param {import('./raw-http.mjs').Exchange} r
 */
export function endingOf(r) {
  if (r.status !== null) return String(r.status);
  if (r.outcome === 'error') return r.code ?? 'error';
  return r.outcome;
}

/**
 * The jobs with the small ones spread between the large (at least 4 MiB): on a server that takes tens of
 * seconds over each large body, a short run still sends some of every kind early.
 * @template {{ body: Buffer }} T
 * @param {T[]} jobs
 * @returns {T[]}
 */
export function interleave(jobs) {
  const large = jobs.filter((j) => j.body.length >= 4 * 2 ** 20);
  const small = jobs.filter((j) => j.body.length < 4 * 2 ** 20);
  /** @type {T[]} */
  const out = [];
  while (large.length || small.length) {
    const s = small.shift();
    if (s) out.push(s);
    const l = large.shift();
    if (l) out.push(l);
  }
  return out;
}

/**
 * @typedef {object} HostileSetup
 * @property {number} port
 * @property {string} path the infer path
 * @property {{ name: string; body: Buffer; headers: Record<string, string | number> }[]} images
 * @property {{ name: string; body: Buffer }[]} json
 * @property {number} oversizedBytes
 * @property {{ images: number; json: number; slow: number }} clients
 * @property {import('./tally.mjs').OutcomeTally} tally
 */

/**
 * Starts the hostile loops; `stop()` ends them (exchanges in flight are abandoned at once) and resolves
 * when all have ended.
 * @param {HostileSetup} o
 */
export function startHostileTraffic(o) {
  const stop = new AbortController();
  // Every exchange in flight listens to it: more than Node's default of 10 is the point here.
  setMaxListeners(0, stop.signal);
  /**
   * One exchange, counted. `timed`: record the duration of every ending but our own abort (slow clients: how
   * long the server kept them), not only of answers.
   * @param {string} kind @param {Parameters<typeof exchange>[0]} request @param {boolean} [timed]
   */
  const run = async (kind, request, timed = false) => {
    o.tally.sent(kind);
    const r = await exchange(request);
    const ending = endingOf(r);
    // `100→413`: the refusal came after a `100 Continue` that invited the body.
    o.tally.ended(kind, r.sawContinue ? `100→${ending}` : ending, r.status !== null || (timed && ending !== 'aborted') ? r.ms : null);
    return r;
  };
  const base = { port: o.port, deadlineMs: exchangeDeadlineMs, stop: stop.signal };

  const imageLoop = async (/** @type {number} */ index) => {
    for (let i = index * 5; !stop.signal.aborted; i++) {
      const image = /** @type {HostileSetup['images'][number]} */ (o.images[i % o.images.length]);
      const turn = Math.floor(i / o.images.length) % 4;
      /** @type {import('./raw-http.mjs').Plan} */
      const plan = turn === 2 ? { kind: 'abort-wait', waitMs: 300 } : turn === 3 ? { kind: 'abort-body', abortAfter: Math.ceil(image.body.length / 2) } : { kind: 'complete' };
      await run(`image ${image.name}`, { ...base, head: postHead(o.path, { ...image.headers, 'content-length': image.body.length }), body: image.body, plan });
    }
  };

  const oversized = Buffer.alloc(o.oversizedBytes);
  const binaryHeaders = (/** @type {number} */ bytes) => ({ 'content-type': 'application/octet-stream', 'inference-header-content-length': 2, 'content-length': bytes });
  const jsonJobs = interleave([
    ...o.json.map((j) => ({ kind: `json ${j.name}`, head: postHead(o.path, { 'content-type': 'application/json', 'content-length': j.body.length }), body: j.body, plan: /** @type {import('./raw-http.mjs').Plan} */ ({ kind: 'complete' }) })),
    { kind: `oversized ${(o.oversizedBytes / 2 ** 20).toFixed(0)}MiB`, head: postHead(o.path, binaryHeaders(oversized.length)), body: oversized, plan: /** @type {import('./raw-http.mjs').Plan} */ ({ kind: 'complete' }) },
    {
      kind: `oversized ${(o.oversizedBytes / 2 ** 20).toFixed(0)}MiB expect-100`, head: postHead(o.path, { ...binaryHeaders(oversized.length), expect: '100-continue' }), body: oversized,
      plan: /** @type {import('./raw-http.mjs').Plan} */ ({ kind: 'expect', waitMs: 1000 }),
    },
  ]);
  const jsonLoop = async (/** @type {number} */ index) => {
    for (let i = Math.floor((index * jsonJobs.length) / o.clients.json); !stop.signal.aborted; i++) {
      const job = /** @type {typeof jsonJobs[number]} */ (jsonJobs[i % jsonJobs.length]);
      await run(job.kind, { ...base, head: job.head, body: job.body, plan: job.plan });
    }
  };

  const padding = 'x'.repeat(120);
  const slowHeaders = postHead(o.path, { 'content-type': 'application/json', 'content-length': 2, 'x-padding': padding });
  const slowBodyHead = postHead(o.path, { 'content-type': 'application/json', 'content-length': 1 << 20 });
  const slowBody = Buffer.alloc(1 << 20, 0x20);
  const slowLoop = async (/** @type {number} */ index) => {
    for (let i = index; !stop.signal.aborted; i++) {
      if (i % 2 === 0) await run('slow headers (1 byte / 500 ms)', { ...base, head: slowHeaders, body: Buffer.from('{}'), plan: { kind: 'trickle', trickleBytes: 1, tickMs: 500, headAtOnce: false } }, true);
      else await run('slow body (64 bytes / s)', { ...base, head: slowBodyHead, body: slowBody, plan: { kind: 'trickle', trickleBytes: 64, tickMs: 1000, headAtOnce: true } }, true);
    }
  };

  const loops = [
    ...Array.from({ length: o.clients.images }, (_, i) => imageLoop(i)),
    ...Array.from({ length: o.clients.json }, (_, i) => jsonLoop(i)),
    ...Array.from({ length: o.clients.slow }, (_, i) => slowLoop(i)),
  ];
  return {
    async stop() {
      stop.abort();
      await Promise.all(loops);
    },
  };
}
