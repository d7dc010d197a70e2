/**
 * Refusals the client can read (issue 14, defects 3 and 8), on one thread (in a process of its own) and on
 * two HTTP threads:
 *
 * - 413 (binary body over maxBodyBytes, JSON body over maxJsonBodyBytes) and 401 answered to 1 MB and 40 MB
 *   bodies reach Node's http client and undici as the status, never EPIPE or a reset: the server reads and
 *   discards the rest of the body before it closes the connection (`Connection: close`). Before the fix Node's
 *   client saw EPIPE in 5 to 10 of 10 tries with 40 MB bodies.
 * - With `Expect: 100-continue`, a 401 or 413 replaces `100 Continue` (before the fix the 100 came first); a
 *   request that passes its checks still gets the 100 and its answer.
 * - Every refusal fastify or Node makes itself — 414 for a model name past 128 characters, 400 for a URL that
 *   is not valid percent-encoding, 400 for a malformed request, 431 for headers too large, 408 for a head that
 *   does not arrive in time, 417 for an unknown Expect — and the server's own 404 has a `{"error"}` body only,
 *   JSON, echoing nothing of the request (before the fix: fastify's `{error, code, message, statusCode}` with
 *   the path, and Node's `{error, message, statusCode}`).
 *
 * Runs the compiled server (an HTTP thread runs dist/server/http-thread.js), with random weights: no
 * request here reaches the model's outputs.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceServer } from '../../lib/server/index.js';
import { binaryInfer, bytesOf, inputValues } from '../helpers/server-helpers.js';
import { distCreateServer } from '../helpers/server-threads-helpers.js';
import { parseRawResponse, rawExchange } from '../helpers/raw-http.js';
import { cliBuilt } from '../helpers/cli-runner.js';
import { killServers, serve } from '../helpers/serve-process.js';

const built = existsSync(fileURLToPath(new URL('../../dist/server/http-thread.js', import.meta.url)));
if (!built) console.log('server-refusals: skipped, dist/ is not built (npm run build:ts)');

const token = 'refusal-test-token';
const auth = { authorization: `Bearer ${token}` };
const infer = '/v2/models/resnet20/infer';
const maxBodyBytes = 512 * 1024;
const maxJsonBodyBytes = 64 * 1024;
const idleConnectionTimeoutMs = 1000;
const MB = 1_000_000;

/** What a client made of one request: the status (and Connection header), or its error code. */
type Outcome = string;

/** POSTs `size` zero bytes with node:http (a connection of its own unless `agent`), without waiting for 100 Continue. */
function postWithNodeHttp(url: string, size: number, headers: Record<string, string>, agent: http.Agent | false = false): Promise<{ outcome: Outcome; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(size) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ outcome: `${res.statusCode} ${res.headers.connection}`, body: Buffer.concat(chunks).toString() }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ outcome: `response ${error.code ?? error.message}`, body: '' }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ outcome: error.code ?? error.message, body: '' }));
    req.end(Buffer.alloc(size));
  });
}

/** Sends `Expect: 100-continue` and the body only on `100 Continue`; says whether the 100 came. */
function postExpectingContinue(url: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; continued: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request(url, {
      method: 'POST', agent: false, headers: { ...headers, expect: '100-continue', 'content-length': String(body.length) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode!, continued, body: Buffer.concat(chunks).toString() });
        req.destroy();
      });
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** Checks a refusal's body: JSON with only `error`, a string that repeats none of `unechoed`. */
function expectErrorBody(contentType: string | undefined, body: string, unechoed: string[]): string {
  expect(contentType).toMatch(/^application\/json/);
  const parsed = JSON.parse(body) as Record<string, unknown>;
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(typeof parsed.error).toBe('string');
  for (const text of unechoed) expect(body).not.toContain(text);
  return parsed.error as string;
}

/**
 * One thread as `resnet serve` runs it, in a process of its own (a server on the test's own event loop takes
 * turns with its client, which hid the lost 413s), and two HTTP threads in this process (the threads run
 * beside the client).
 */
const layouts = [
  { name: 'resnet serve, one thread', httpThreads: 1, ownProcess: true },
  { name: 'two HTTP threads', httpThreads: 2, ownProcess: false },
];

describe.runIf(built && cliBuilt).each(layouts)('$name', ({ httpThreads, ownProcess }) => {
  let server: InferenceServer | null = null;
  let port: number;
  let url: string;

  beforeAll(async () => {
    if (ownProcess) {
      const serving = await serve(['--model', 'resnet20', '--max-batch-size', '2', '--host', '127.0.0.1', '--port', '0', '--grpc-port', 'off',
        '--http-threads', '1', '--max-body-bytes', String(maxBodyBytes), '--max-json-body-bytes', String(maxJsonBodyBytes),
        '--idle-connection-timeout-ms', String(idleConnectionTimeoutMs)], { RESNET_SERVE_AUTH_TOKEN: token });
      url = serving.url;
      port = Number(new URL(url).port);
    } else {
      server = (await distCreateServer())({
        models: [{ arch: 'resnet20', maxBatchSize: 2 }], host: '127.0.0.1', port: 0, grpcPort: null, logLevel: 'silent', authToken: token,
        maxBodyBytes, maxJsonBodyBytes, idleConnectionTimeoutMs, httpThreads,
      });
      await server.start();
      ({ url, port } = server.address!);
    }
  }, 120_000);
  afterAll(async () => {
    killServers();
    await server?.close();
  }, 60_000);

  describe('413 and 401 reach a client still sending its body', () => {
    const refusals: [string, Record<string, string>, string, number[]][] = [
      ['401 without a token', {}, '401 close', [1 * MB, 40 * MB]],
      ['413 binary body over maxBodyBytes', { ...auth, 'inference-header-content-length': '100' }, '413 close', [1 * MB, 40 * MB]],
      ['413 JSON body over maxJsonBodyBytes', auth, '413 close', [40 * MB]],
    ];
    for (const [name, headers, expected, sizes] of refusals) {
      for (const size of sizes) {
        it(`${name}: ${size / MB} MB, 10 times with node:http`, async () => {
          const outcomes: Record<Outcome, number> = {};
          for (let i = 0; i < 10; i++) {
            const { outcome } = await postWithNodeHttp(`${url}${infer}`, size, headers);
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          }
          expect(outcomes).toEqual({ [expected]: 10 });
        }, 60_000);
      }
    }

    it('says which limit, and how to stay within it', async () => {
      const json = await postWithNodeHttp(`${url}${infer}`, 2 * MB, auth);
      expect(JSON.parse(json.body)).toEqual({
        error: `JSON request body of ${2 * MB} bytes exceeds the limit of ${maxJsonBodyBytes} bytes for JSON (maxJsonBodyBytes, --max-json-body-bytes): `
          + 'send tensors as binary data (the binary tensor extension, with Inference-Header-Content-Length), or raise the limit',
      });
      const header = await postWithNodeHttp(`${url}${infer}`, 100 * 1024, { ...auth, 'inference-header-content-length': String(maxJsonBodyBytes + 1) });
      expect(header.outcome).toBe('413 close');
      expect(JSON.parse(header.body).error).toBe(`the JSON header of ${maxJsonBodyBytes + 1} bytes (Inference-Header-Content-Length) exceeds the limit of `
        + `${maxJsonBodyBytes} bytes for JSON (maxJsonBodyBytes, --max-json-body-bytes): send tensors as binary data after the header, or raise the limit`);
    }, 30_000);

    it('are reported in /config', async () => {
      const res = await undiciRequest(`${url}/v2/models/resnet20/config`, { headers: auth });
      const config = await res.body.json() as { parameters: Record<string, { string_value: string }> };
      expect(config.parameters.max_body_bytes).toEqual({ string_value: String(maxBodyBytes) });
      expect(config.parameters.max_json_body_bytes).toEqual({ string_value: String(maxJsonBodyBytes) });
    });

    it('reaches undici too, and a keep-alive client goes on on a new connection', async () => {
      for (const headers of [{}, auth]) {
        const res = await undiciRequest(`${url}${infer}`, { method: 'POST', body: Buffer.alloc(40 * MB), headers });
        expect(res.statusCode).toBe(headers === auth ? 413 : 401);
        expect(res.headers.connection).toBe('close');
        expectErrorBody(res.headers['content-type'] as string, await res.body.text(), []);
      }
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        expect((await postWithNodeHttp(`${url}${infer}`, 40 * MB, {}, agent)).outcome).toBe('401 close');
        const values = inputValues(1, 3);
        const { body, headerLength } = binaryInfer({
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
        }, bytesOf(values));
        const ok = await new Promise<number>((resolve, reject) => {
          const req = http.request(`${url}${infer}`, {
            method: 'POST', agent, headers: { ...auth, 'inference-header-content-length': String(headerLength), 'content-length': String(body.length) },
          }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          });
          req.on('error', reject);
          req.end(body);
        });
        expect(ok).toBe(200);
      } finally {
        agent.destroy();
      }
    }, 60_000);
  });

  describe('Expect: 100-continue', () => {
    it('gets the 401 or 413 instead of 100 Continue', async () => {
      const unauthorized = await postExpectingContinue(`${url}${infer}`, Buffer.alloc(4 * MB), {});
      expect(unauthorized).toMatchObject({ status: 401, continued: false });
      const tooLarge = await postExpectingContinue(`${url}${infer}`, Buffer.alloc(4 * MB), auth);
      expect(tooLarge).toMatchObject({ status: 413, continued: false });
      // On the wire: the refusal is the first (and only) status line.
      const raw = await rawExchange(port, `POST ${infer} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\n`
        + `Content-Length: ${4 * MB}\r\n\r\n`);
      expect(raw.text).toMatch(/^HTTP\/1\.1 413 /);
      expect(raw.text).not.toContain('100 Continue');
    }, 30_000);

    it('gets 100 Continue, then its answer, when it passes the checks', async () => {
      const values = inputValues(1, 4);
      const { body, headerLength } = binaryInfer({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { binary_data_size: values.byteLength } }],
      }, bytesOf(values));
      const answered = await postExpectingContinue(`${url}${infer}`, body, { ...auth, 'inference-header-content-length': String(headerLength) });
      expect(answered).toMatchObject({ status: 200, continued: true });
      expect(JSON.parse(answered.body).model_name).toBe('resnet20');
    }, 30_000);
  });

  describe('every refusal is {"error"} JSON that echoes nothing', () => {
    const longName = 'm'.repeat(200);
    const marker = 'EchoMarker7';
    const cases: [string, string, number, RegExp][] = [
      ['414: a model name over 128 characters', `GET /v2/models/${longName}/ready HTTP/1.1\r\nHost: x\r\n\r\n`, 414, /longer than 128 characters/],
      ['400: a path that is not percent-encoded UTF-8', `GET /v2/models/${marker}%E0%A4%A/ready HTTP/1.1\r\nHost: x\r\n\r\n`, 400, /percent-encoded/],
      ['400: a malformed request line', `${marker} / HTTP/1.1\r\nHost: x\r\n\r\n`, 400, /^malformed HTTP request \(HPE_INVALID_METHOD\)/],
      ['400: a malformed header', `GET /v2/health/live HTTP/1.1\r\nHost: x\r\n${marker} header\r\n\r\n`, 400, /^malformed HTTP request \(HPE_INVALID_HEADER_TOKEN\)/],
      ['431: headers over 16 KiB', `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-${marker}: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /16384 bytes/],
      ['408: a head that does not arrive in time', `GET /v2/health/live?${marker} HTTP/1.1\r\nHost: x\r\n`, 408, /within 1000 ms of its first byte/],
      ['417: an Expect other than 100-continue', `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nExpect: ${marker}\r\n\r\n`, 417, /100-continue/],
      ['404: an unknown route', `GET /v2/${marker} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, 404, /^no route for GET at this path/],
    ];
    for (const [name, request, status, message] of cases) {
      it(name, async () => {
        const exchange = await rawExchange(port, request, 5000);
        const response = parseRawResponse(exchange.text);
        expect(response.status, exchange.text.slice(0, 300)).toBe(status);
        expect(expectErrorBody(response.headers['content-type'], response.body, [marker, longName.slice(0, 20)])).toMatch(message);
        // Node's and fastify's refusals close the connection (the 404's client asked for it).
        expect(response.headers.connection).toBe('close');
        expect(exchange.closedByServer).toBe(true);
      }, 15_000);
    }
  });
});
