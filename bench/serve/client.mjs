// @ts-check
/**
 * One client process of the load generator (forked by generator.mjs; not run by hand). It runs `slots`
 * closed loops, each with its own keep-alive connection (undici `Client`, pipelining 1) and exactly one
 * request outstanding, from `startAt` until `windowEnd` (epoch milliseconds, shared with the other
 * clients), and counts every request into a tally (tally.mjs): latencies of the 2xx answers that end
 * inside [`windowStart`, `windowEnd`), its own CPU time over that window. Requests in flight at the end
 * are awaited, not dropped.
 *
 * Messages: parent → `setup` {config}, `run` {startAt, windowStart, windowEnd}, `stop`; client → `ready`,
 * `failed` {message}, `result` {tally, problems}. Setup builds the bodies, creates and registers the
 * shared-memory regions (kind `shm`) and sends one request, checked (requests.mjs `checkAnswer`), so a
 * server that refuses the input fails here with its own message. The regions are unregistered and their
 * files removed however the process ends: after the run, on `stop`, SIGINT/SIGTERM, or the parent's
 * disconnect (files also in the `exit` handler).
 * @module
 */
import { Client } from 'undici';
import { epochMs, sleepUntil } from './clock.mjs';
import { newTally, countFailure, tallyToJSON } from './tally.mjs';
import { checkAnswer, fp32Pixels, fp32Request, jpegRequests, serverMessage, shmLayout, shmRequest, uint8Pixels, uint8Request } from './requests.mjs';
import { createRegion, poisonRegion, readRegion, regionOf, registerRegion, unlinkRegion, unregisterRegion } from './shm.mjs';

/**
 * @typedef {object} ClientConfig
 * @property {string} origin        http://host:port
 * @property {string} path          the infer path
 * @property {import('./options.mjs').InputKind} kind
 * @property {'uint8' | 'fp32'} shmDatatype
 * @property {number} slots         concurrent requests of this process
 * @property {number} n             images per request
 * @property {import('./requests.mjs').ModelGeometry} geometry
 * @property {Buffer[]} [jpegImages]
 * @property {string} regionPrefix
 * @property {number} clientIndex
 * @property {number} timeoutMs     a request's limit (headers and body each)
 */


/** @type {ClientConfig} */
let config;
/** @type {Client[]} */
let connections = [];
/** @type {import('./shm.mjs').Region[]} */
const created = [];
/** @type {import('./shm.mjs').Region[]} */
const registered = [];
/** @type {((slot: number, i: number) => import('./requests.mjs').InferRequest)} */
let requestFor;
let stopping = false;
/** @type {() => void} */
let onStop = () => {};
/** Resolves when the run is told to stop early. */
const stopped = new Promise((resolve) => { onStop = () => resolve(undefined); });
/** @type {Promise<void> | null} */
let running = null;
let cleaned = false;

process.on('exit', () => {
  for (const region of created) unlinkRegion(region);
});

/** @param {any} message */
function send(message) {
  return new Promise((resolve) => {
    if (!process.connected) resolve(undefined);
    else process.send?.(message, undefined, {}, () => resolve(undefined));
  });
}

/** Unregisters and removes the regions, closes the connections; returns what went wrong, as text. */
async function cleanup() {
  if (cleaned) return [];
  cleaned = true;
  const problems = (await Promise.all(registered.map((r) => unregisterRegion(config.origin, r, 2000))))
    .map((p, i) => (p === null ? null : `unregistering '${registered[i]?.name}': ${p}`))
    .filter((p) => p !== null);
  for (const region of created) unlinkRegion(region);
  await Promise.all(connections.map((c) => c.destroy().catch(() => {})));
  return /** @type {string[]} */ (problems);
}

/** Ends the process after the loops (if running) have finished and everything is cleaned up. */
async function finish(code = 0) {
  stopping = true;
  onStop();
  await running;
  await cleanup();
  process.exit(code);
}

/** Sends one request on `client`; the status, header length and body. @param {Client} client @param {import('./requests.mjs').InferRequest} req */
async function post(client, req) {
  const res = await client.request({ path: config.path, method: 'POST', headers: req.headers, body: req.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  const headerLength = res.headers['inference-header-content-length'];
  return { status: res.statusCode, headerLength: Array.isArray(headerLength) ? headerLength[0] : headerLength, body };
}

async function setup() {
  const { geometry: g, n, kind } = config;
  connections = Array.from({ length: config.slots }, () => new Client(config.origin, {
    pipelining: 1, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs, keepAliveTimeout: 60_000,
  }));
  if (kind === 'fp32' || kind === 'uint8') {
    const req = kind === 'fp32' ? fp32Request(g, n) : uint8Request(g, n);
    requestFor = () => req;
  } else if (kind === 'jpeg') {
    const list = jpegRequests(g, n, config.jpegImages ?? []);
    // Slots start at different images, so the server sees the whole corpus at any moment.
    requestFor = (slot, i) => /** @type {import('./requests.mjs').InferRequest} */ (list[(config.clientIndex * 7919 + slot * 31 + i * n) % list.length]);
  } else {
    const layout = shmLayout(g, n, config.shmDatatype);
    const input = config.shmDatatype === 'fp32' ? fp32Pixels(g, n) : uint8Pixels(g, n);
    /** @type {import('./requests.mjs').InferRequest[]} */
    const requests = [];
    for (let slot = 0; slot < config.slots; slot++) {
      const region = createRegion(regionOf(config.regionPrefix, config.clientIndex, slot), layout.byteSize, input);
      created.push(region);
      await registerRegion(config.origin, region);
      registered.push(region);
      requests.push(shmRequest(g, n, config.shmDatatype, region.name));
    }
    requestFor = (slot) => /** @type {import('./requests.mjs').InferRequest} */ (requests[slot]);
  }
  // One request, checked: a server that refuses this input says so here, in its own words.
  const first = /** @type {Client} */ (connections[0]);
  if (kind === 'shm') {
    const region = /** @type {import('./shm.mjs').Region} */ (created[0]);
    const layout = shmLayout(g, n, config.shmDatatype);
    poisonRegion(region, layout.outputOffset, layout.outputBytes);
    checkAnswer(await post(first, requestFor(0, 0)), g, n, region.name);
    const out = readRegion(region, layout.outputOffset, layout.outputBytes);
    for (let i = 0; i < out.length; i += 4) {
      if (!Number.isFinite(out.readFloatLE(i))) throw new Error(`the server answered 200 but left output element ${i / 4} of region '${region.name}' unwritten or not finite`);
    }
  } else {
    checkAnswer(await post(first, requestFor(0, 0)), g, n);
  }
}

/**
 * A 2xx answer that cannot be the logits asked for (binary output of the wrong size) is a failure too.
 * @param {{ headerLength: string | undefined; body: Buffer }} answer
 */
function invalid(answer) {
  if (config.kind === 'shm') return answer.headerLength !== undefined ? 'binary data in the answer of a shared-memory request' : null;
  const binary = answer.body.length - Number(answer.headerLength);
  const expected = config.n * config.geometry.classes * 4;
  return binary === expected ? null : `${Number.isNaN(binary) ? 'no' : binary} bytes of binary output, expected ${expected}`;
}

/** @param {{ startAt: number; windowStart: number; windowEnd: number }} times */
async function run(times) {
  const tally = newTally();
  // The client's CPU time over the window, read at its edges (awaited after the loops, so a window whose
  // last answers come in just after it closes is still read at its end).
  const cpuWindow = (async () => {
    await Promise.race([sleepUntil(times.windowStart), stopped]);
    const start = process.cpuUsage();
    const startAt = performance.now();
    await Promise.race([sleepUntil(times.windowEnd), stopped]);
    const used = process.cpuUsage(start);
    tally.cpuMs = (used.user + used.system) / 1000;
    tally.windowMs = performance.now() - startAt;
  })();

  const slot = async (/** @type {number} */ s) => {
    const client = /** @type {Client} */ (connections[s]);
    await sleepUntil(times.startAt);
    for (let i = 0; !stopping; i++) {
      const started = epochMs();
      if (started >= times.windowEnd) break;
      tally.sent++;
      try {
        const answer = await post(client, requestFor(s, i));
        const ended = epochMs();
        const inWindow = ended >= times.windowStart && ended < times.windowEnd;
        if (answer.status < 200 || answer.status > 299) {
          countFailure(tally, `HTTP ${answer.status}`, serverMessage(answer.status, answer.body), inWindow);
          continue;
        }
        const problem = invalid(answer);
        if (problem !== null) countFailure(tally, 'invalid answer', problem, inWindow);
        else if (inWindow) {
          tally.okInWindow++;
          tally.latency.record(ended - started);
        } else tally.okOutsideWindow++;
      } catch (error) {
        const ended = epochMs();
        const e = /** @type {{ code?: string; name?: string; message?: string }} */ (error);
        countFailure(tally, e.code ?? e.name ?? 'Error', e.message ?? String(error), ended >= times.windowStart && ended < times.windowEnd);
      }
    }
  };
  await Promise.all(connections.map((_, s) => slot(s)));
  await cpuWindow;
  return tally;
}

process.on('message', (/** @type {any} */ message) => {
  if (message?.type === 'setup') {
    config = message.config;
    setup().then(
      () => send({ type: 'ready' }),
      async (error) => {
        await send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
        await finish(0);
      },
    );
  } else if (message?.type === 'run') {
    running = run(message).then(async (tally) => {
      const problems = await cleanup();
      await send({ type: 'result', tally: tallyToJSON(tally), problems });
      process.exit(0);
    });
  } else if (message?.type === 'stop') {
    void finish(0);
  }
});
// Ctrl-C reaches the whole process group; a parent that dies takes the IPC channel with it.
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(signal, () => void finish(130));
process.on('disconnect', () => void finish(0));
