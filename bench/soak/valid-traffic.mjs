// @ts-check
/**
 * The soak's valid traffic: `clients` closed loops, each on its own keep-alive connection (undici `Client`,
 * one request outstanding), cycling through the valid requests (each loop starting at another one), every
 * answer checked against its reference logits (valid-requests.mjs). Runs from warm-up to the end of the
 * settle period; a request in flight when it is told to stop is awaited, not dropped.
 * @module
 */
import { Client } from 'undici';
import { checkValidAnswer } from './valid-requests.mjs';

/**
 * Sends one request; the status, JSON header length and body.
 * @param {Client} client @param {string} path @param {import('./valid-requests.mjs').ValidRequest} request
 */
export async function postValid(client, path, request) {
  const res = await client.request({ path, method: 'POST', headers: request.headers, body: request.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  const headerLength = res.headers['inference-header-content-length'];
  return { status: res.statusCode, headerLength: Array.isArray(headerLength) ? headerLength[0] : headerLength, body };
}

/**
 * Sends every valid request once, one at a time, before the soak starts: a server that disagrees with the
 * reference from the start (another preprocessing, another model) makes the soak meaningless, so this
 * throws with the first disagreement instead.
 * @param {{ origin: string; path: string; outputName: string; requests: import('./valid-requests.mjs').ValidRequest[]; timeoutMs: number }} o
 */
export async function preflight(o) {
  const client = new Client(o.origin, { headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
  try {
    for (const request of o.requests) {
      const check = checkValidAnswer(await postValid(client, o.path, request), request, o.outputName);
      if (!check.ok) throw new Error(`the server's first answer to the valid ${request.kind} request is not the reference: ${check.problem}`);
    }
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * Starts the loops; `stop()` ends them after their requests in flight and resolves when all have.
 * @param {{ origin: string; path: string; outputName: string; requests: import('./valid-requests.mjs').ValidRequest[];
 *   clients: number; timeoutMs: number; phase: () => import('./tally.mjs').Phase; tally: import('./tally.mjs').ValidTally }} o
 */
export function startValidTraffic(o) {
  let stopping = false;
  const loop = async (/** @type {number} */ index) => {
    let client = new Client(o.origin, { pipelining: 1, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs, keepAliveTimeout: 60_000 });
    for (let i = index; !stopping; i++) {
      const request = /** @type {import('./valid-requests.mjs').ValidRequest} */ (o.requests[i % o.requests.length]);
      const phase = o.phase();
      o.tally.sent(request.kind, phase);
      const started = performance.now();
      try {
        const check = checkValidAnswer(await postValid(client, o.path, request), request, o.outputName);
        o.tally.ended(request.kind, phase, check, performance.now() - started);
      } catch (error) {
        const e = /** @type {{ code?: string; message?: string }} */ (error);
        o.tally.ended(request.kind, phase, { ok: false, wrong: false, problem: `${e.code ?? 'Error'}: ${e.message ?? String(error)}`.slice(0, 300) }, performance.now() - started);
        // A connection that failed is replaced, as a client library's pool would.
        await client.destroy().catch(() => {});
        client = new Client(o.origin, { pipelining: 1, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs, keepAliveTimeout: 60_000 });
      }
    }
    await client.close().catch(() => {});
  };
  const loops = Array.from({ length: o.clients }, (_, i) => loop(i));
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
