// `npm run soak` (bench/soak.mjs): its parts against references worked out here, then a short soak of the built
// CLI end to end.
// - the answer check: a reference's own logits pass, one logit moved past the tolerance or another request's
//   logits are wrong, a 503 is a failure (not a wrong answer), the tolerance scales with the logits;
// - the raw exchanges of the hostile clients against a node:http server: an answer read, a client that leaves
//   halfway through its body (the server sees it go), `Expect: 100-continue`, a trickle the server cuts off;
// - the memory summary: medians over the last seconds of warm-up and settle, peak, ratio;
// - a 12-second soak of resnet20 (seeded weights) with every kind of client: the result file's structure, every
//   valid request counted exactly once and checked, the warm-up's answers all correct, every kind of hostile
//   request sent and its endings adding up, the connections opened, liveness probed in every phase, memory
//   sampled from /proc and /metrics, and the verdict consistent with those figures. And what the server must do
//   (issue 14): every valid answer correct, no crash, no 5xx to a hostile request, every refusal of an oversized
//   body read by its client (no reset), every liveness probe answered. The memory check needs minutes to settle:
//   the 5-minute `npm run soak` decides it, not this test.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkValidAnswer, tolerance, type ValidRequest } from '../../bench/soak/valid-requests.mjs';
import { exchange, postHead } from '../../bench/soak/raw-http.mjs';
import { median, rssTolerance, summarizeMemory } from '../../bench/soak/report.mjs';
import { cliBuilt } from '../helpers/cli-runner.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'soak-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A request of `n` samples of 3 classes with these reference logits. */
function requestOf(reference: number[], n: number, binaryOutput: boolean): ValidRequest {
  return { kind: 'k', n, body: Buffer.alloc(0), headers: {}, binaryOutput, reference: Float32Array.from(reference) };
}

/** The server's answer carrying `values` as output `output` `[n, 3]`, binary or JSON. */
function answerOf(values: number[], n: number, binary: boolean, status = 200) {
  const output = { name: 'output', datatype: 'FP32', shape: [n, 3], ...(binary ? { parameters: { binary_data_size: values.length * 4 } } : { data: values }) };
  const header = Buffer.from(JSON.stringify({ model_name: 'm', outputs: [output] }));
  const tail = binary ? Buffer.from(Float32Array.from(values).buffer) : Buffer.alloc(0);
  return { status, headerLength: binary ? String(header.length) : undefined, body: Buffer.concat([header, tail]) };
}

describe('the answer check', () => {
  const reference = [2.5, -40, 7, 1, 0.5, -3];
  for (const binary of [true, false]) {
    it(`accepts the reference and refuses other logits (${binary ? 'binary' : 'JSON'} output)`, () => {
      const request = requestOf(reference, 2, binary);
      expect(checkValidAnswer(answerOf(reference, 2, binary), request, 'output')).toEqual({ ok: true, maxDiff: 0 });
      // The allowance is 1e-4 of the largest |logit| (40 here): 3.9e-3 passes, 4.1e-3 does not.
      const inside = reference.map((v, i) => (i === 3 ? v + 0.0039 : v));
      const check = checkValidAnswer(answerOf(inside, 2, binary), request, 'output');
      expect(check.ok).toBe(true);
      if (check.ok) expect(check.maxDiff).toBeCloseTo(0.0039, 6);
      const outside = reference.map((v, i) => (i === 3 ? v + 0.0041 : v));
      expect(checkValidAnswer(answerOf(outside, 2, binary), request, 'output')).toMatchObject({ ok: false, wrong: true });
      // The rows of another request (swapped samples) are wrong answers, not failures.
      const swapped = [...reference.slice(3), ...reference.slice(0, 3)];
      expect(checkValidAnswer(answerOf(swapped, 2, binary), request, 'output')).toMatchObject({ ok: false, wrong: true });
      expect(checkValidAnswer(answerOf([NaN, ...reference.slice(1)], 2, binary), request, 'output')).toMatchObject({ ok: false, wrong: true });
    });
  }

  it('scales the allowance with the logits, never below 1e-4 absolute', () => {
    expect(tolerance.relative).toBe(1e-4);
    const small = requestOf([0.01, 0.02, 0.03], 1, true);
    expect(checkValidAnswer(answerOf([0.01 + 9e-5, 0.02, 0.03], 1, true), small, 'output').ok).toBe(true);
    expect(checkValidAnswer(answerOf([0.01 + 1.1e-4, 0.02, 0.03], 1, true), small, 'output').ok).toBe(false);
  });

  it('tells failures (not 200) from wrong answers, and refuses a wrong shape or a missing output', () => {
    const request = requestOf(reference, 2, true);
    const refused = { status: 503, headerLength: undefined, body: Buffer.from('{"error":"queue full"}') };
    expect(checkValidAnswer(refused, request, 'output')).toEqual({ ok: false, wrong: false, problem: 'HTTP 503: queue full' });
    expect(checkValidAnswer(answerOf(reference.slice(0, 3), 1, true), request, 'output')).toMatchObject({ ok: false, wrong: true, problem: expect.stringContaining('[1,3], expected FP32 [2,3]') });
    expect(checkValidAnswer(answerOf(reference, 2, true), request, 'logits')).toMatchObject({ ok: false, wrong: true, problem: "no output 'logits' in the answer" });
  });
});

describe('raw exchanges of the hostile clients', () => {
  let server: Server;
  let port: number;
  const seen: string[] = [];
  beforeAll(async () => {
    // Node's own limit on the time to receive the headers (checked every 250 ms): the trickled head below is cut off by it.
    server = createServer({ headersTimeout: 1500, requestTimeout: 1500, connectionsCheckingInterval: 250 }, (req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('aborted', () => seen.push(`aborted after ${bytes}`));
      req.on('end', () => {
        seen.push(`${req.url} ${bytes}`);
        res.writeHead(req.url === '/teapot' ? 418 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `read ${bytes}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads the status and body of a complete exchange', async () => {
    const body = Buffer.alloc(3_000_000, 1);
    const r = await exchange({ port, head: postHead('/teapot', { 'content-length': body.length }), body, plan: { kind: 'complete' }, deadlineMs: 10_000 });
    expect(r).toMatchObject({ outcome: 'answered', status: 418, message: '{"error":"read 3000000"}', sawContinue: false });
    expect(seen).toContain('/teapot 3000000');
  });

  it('leaves halfway through the body, and the server sees the client go', async () => {
    const body = Buffer.alloc(4000, 1);
    const r = await exchange({ port, head: postHead('/x', { 'content-length': body.length }), body, plan: { kind: 'abort-body', abortAfter: 2000 }, deadlineMs: 10_000 });
    expect(r).toMatchObject({ outcome: 'aborted', status: null });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toContain('aborted after 2000');
  });

  it('waits for 100 Continue before the body', async () => {
    const body = Buffer.from('{}');
    const r = await exchange({ port, head: postHead('/c', { 'content-length': 2, expect: '100-continue' }), body, plan: { kind: 'expect', waitMs: 5000 }, deadlineMs: 10_000 });
    expect(r).toMatchObject({ outcome: 'answered', status: 200, sawContinue: true });
    expect(r.ms).toBeLessThan(4000); // sent on the 100, not after the wait
  });

  it('counts a trickle the server cuts off, with the time it took', async () => {
    const r = await exchange({ port, head: postHead('/slow', { 'content-length': 2, 'x-padding': 'x'.repeat(100) }), body: Buffer.from('{}'),
      plan: { kind: 'trickle', trickleBytes: 1, tickMs: 100, headAtOnce: false }, deadlineMs: 20_000 });
    // Node answers 408 when its headers timeout fires.
    expect(r.status === 408 || r.outcome === 'closed' || r.outcome === 'reset').toBe(true);
    expect(r.ms).toBeGreaterThan(1000);
    expect(r.ms).toBeLessThan(15_000);
  });
});

describe('the memory summary', () => {
  it('takes medians over the last seconds of warm-up and settle', () => {
    const mib = 2 ** 20;
    const samples = [
      ...[0, 2, 4, 6, 8].map((t, i) => ({ t, phase: 'warmup' as const, rss: [500, 300, 100, 110, 120][i]! * mib, metricsRss: 100 * mib })),
      ...[10, 12].map((t) => ({ t, phase: 'hostile' as const, rss: 900 * mib, metricsRss: null })),
      ...[14, 16, 18, 20].map((t, i) => ({ t, phase: 'settle' as const, rss: [700, 150, 130, 140][i]! * mib, metricsRss: i === 3 ? 139 * mib : null })),
    ];
    const m = summarizeMemory(samples, 950 * mib, 4);
    expect(m.startBytes).toBe(110 * mib); // t 4, 6, 8: 100, 110, 120
    expect(m.endBytes).toBe(140 * mib); // t 16, 18, 20: 150, 130, 140
    expect(m.ratio).toBeCloseTo(140 / 110, 12);
    expect(m.peakBytes).toBe(950 * mib); // the kernel's VmHWM beats every sample
    expect(m.hostilePeakBytes).toBe(900 * mib);
    expect([m.metricsStartBytes, m.metricsEndBytes]).toEqual([100 * mib, 139 * mib]);
    expect(median([3, NaN, 1, 2, 10])).toBe(2.5);
    expect(rssTolerance).toBe(0.2);
  });
});

describe.runIf(cliBuilt)('a short soak of resnet serve (resnet20, CPU)', () => {
  const resultFile = path.join(scratch, 'soak.json');
  let run: { code: number; stdout: string; stderr: string };
  let r: any;
  beforeAll(async () => {
    const args = [
      'bench/soak.mjs', '--model', 'resnet20', '--duration', '12', '--warmup', '4', '--settle', '4', '--valid-clients', '3', '--image-clients', '2',
      '--json-clients', '1', '--slow-clients', '2', '--idle-connections', '40', '--keepalive-connections', '10', '--sample-interval-ms', '500',
      '--threads', '2', '--json', resultFile, '--max-body-bytes', String(4 * 2 ** 20),
    ];
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, timeout: 100_000, maxBuffer: 16 * 2 ** 20 });
      run = { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      run = { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
    r = JSON.parse(readFileSync(resultFile, 'utf8'));
  }, 110_000);

  it('exits 0 on PASS and 1 on FAIL, the verdict the checks give, the table printed last', () => {
    expect([0, 1], run.stderr.slice(-2000)).toContain(run.code);
    expect(r).toMatchObject({ tool: 'soak', version: 1, phases: { warmupS: 4, hostileS: 12, settleS: 4 }, model: { arch: 'resnet20' } });
    expect(r.checks.map((c: any) => c.name)).toEqual(['all valid requests answered correctly', 'RSS at the end within 20% of the start', 'no crash']);
    expect(r.pass).toBe(r.checks.every((c: any) => c.pass));
    expect(run.code).toBe(r.pass ? 0 : 1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(r.pass ? 'soak: PASS' : 'soak: FAIL');
    expect(lines.slice(-4, -1).map((l) => l.slice(0, 4))).toEqual(r.checks.map((c: any) => (c.pass ? 'PASS' : 'FAIL')));
    expect(r.server.args).toEqual(expect.arrayContaining(['--max-body-bytes', String(4 * 2 ** 20), '--threads', '2']));
  });

  it('counts every valid request once, checks each answer, and the warm-up is all correct', () => {
    const kinds = ['fp32-binary', 'fp32-json', 'uint8-binary', 'uint8-json', 'png-binary', 'jpeg-binary', 'png-json', 'jpeg-json'];
    expect(Object.keys(r.valid.kinds)).toEqual(kinds);
    const t = r.valid.totals;
    expect(t.sent).toBeGreaterThan(kinds.length);
    expect(t.correct + t.wrong + t.failed).toBe(t.sent);
    for (const kind of kinds) {
      const k = r.valid.kinds[kind];
      expect(k.sent, kind).toBeGreaterThan(0);
      expect(k.correct + k.wrong + k.failed, kind).toBe(k.sent);
      expect(k.latency.count, kind).toBe(k.correct);
      if (k.correct > 0) expect(k.maxDiff, kind).toBeLessThanOrEqual(1e-4 * 200); // resnet20's random logits are below 200
    }
    const phases = r.valid.phases;
    expect(Object.keys(phases).sort()).toEqual(['hostile', 'settle', 'warmup']);
    expect(phases.warmup.sent).toBeGreaterThan(0);
    expect(phases.warmup.correct).toBe(phases.warmup.sent);
    expect(phases.warmup.sent + phases.hostile.sent + phases.settle.sent).toBe(t.sent);
    expect(r.checks[0].pass).toBe(t.correct === t.sent);
  });

  it('sends every kind of hostile request and accounts for each', () => {
    const kinds = Object.keys(r.hostile);
    expect(kinds.some((k) => k.startsWith('image '))).toBe(true);
    expect(kinds.some((k) => k.startsWith('json nested-'))).toBe(true);
    expect(kinds).toEqual(expect.arrayContaining(['image thin-png-2000x1', 'json nested-body-200k', 'slow headers (1 byte / 500 ms)', 'slow body (64 bytes / s)']));
    for (const [kind, h] of Object.entries<any>(r.hostile)) {
      const ended = Object.values<number>(h.by).reduce((a, b) => a + b, 0);
      expect(ended, kind).toBe(h.sent);
      expect(h.sent, kind).toBeGreaterThan(0);
    }
    const [idle, keepalive] = r.connections;
    expect(idle).toMatchObject({ kind: 'idle', target: 40 });
    expect(idle.opened).toBeGreaterThanOrEqual(40);
    expect(keepalive).toMatchObject({ kind: 'keep-alive', target: 10 });
    expect(keepalive.answered).toBeGreaterThanOrEqual(10);
  });

  it('probes liveness in every phase and samples memory from /proc and /metrics', () => {
    for (const phase of ['warmup', 'hostile', 'settle']) expect(r.liveness.phases[phase].sent, phase).toBeGreaterThan(0);
    expect(r.liveness.phases.warmup.ok).toBeGreaterThan(0);
    expect(r.liveness.all.p50).toBeGreaterThan(0);
    expect(r.liveness.all.max).toBeGreaterThanOrEqual(r.liveness.all.p99);
    const m = r.memory;
    expect(m.samples.length).toBeGreaterThan(20);
    expect(new Set(m.samples.map((s: any) => s.phase))).toEqual(new Set(['warmup', 'hostile', 'settle']));
    expect(m.startBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(m.endBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(m.metricsStartBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(m.peakBytes).toBeGreaterThanOrEqual(Math.max(m.startBytes, m.endBytes, m.hostilePeakBytes));
    expect(m.ratio).toBeCloseTo(m.endBytes / m.startBytes, 12);
    expect(r.checks[1].pass).toBe(m.ratio <= 1.2);
    expect(r.checks[2].pass).toBe(r.server.exitedEarly === null && r.server.finalLive === 'ok');
  });

  it('the server holds up: valid answers all correct, no crash, no 5xx, oversized refusals read, liveness answered', () => {
    expect(r.checks[0]).toMatchObject({ name: 'all valid requests answered correctly', pass: true });
    expect(r.checks[2]).toMatchObject({ name: 'no crash', pass: true });
    for (const [kind, h] of Object.entries<any>(r.hostile)) {
      const serverErrors = Object.keys(h.by).filter((ending) => /^5\d\d$/.test(ending) && ending !== '503');
      expect(serverErrors, kind).toEqual([]);
      if (kind.startsWith('oversized')) expect(Object.keys(h.by).filter((ending) => ending !== '413' && ending !== 'aborted'), kind).toEqual([]);
    }
    for (const phase of ['warmup', 'hostile', 'settle']) expect(r.liveness.phases[phase].ok, phase).toBe(r.liveness.phases[phase].sent);
  });
});
