// The server on the GPU (issue 5 on the device the GPU check runs on): `createServer` with resnet50 on
// cuda:0 in FP16, binary-tensor requests from this process over 127.0.0.1. Checks that every concurrent
// client gets its own row (against the served model's own single-image run) and measures img/s, p50
// latency and the batches formed per concurrency level. Runs at the end of the bench part (its log, so the
// check's output stays at eight files) and writes WORK/serve.json; the summary does not read it.
import path from 'node:path';
import { ResultFile, describeError } from './results.mjs';
import { mulberry32, uniformArray } from './random.mjs';

const IMAGE = [3, 224, 224];
const SAMPLE = IMAGE[0] * IMAGE[1] * IMAGE[2];

/** A binary-tensor infer body for one image (FP32 in, FP32 `output` out). */
function inferBody(values) {
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'input', shape: [1, ...IMAGE], datatype: 'FP32', parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  }));
  return { body: Buffer.concat([header, Buffer.from(values.buffer, values.byteOffset, values.byteLength)]), headerLength: header.length };
}

/** POSTs one body; returns the `output` row and the milliseconds it took. */
async function infer(url, { body, headerLength }) {
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${bytes.toString().slice(0, 300)}`);
  const jsonLength = Number(response.headers.get('inference-header-content-length'));
  const binary = bytes.subarray(jsonLength);
  const row = new Float32Array(binary.length / 4);
  for (let i = 0; i < row.length; i++) row[i] = binary.readFloatLE(i * 4);
  return { row, ms };
}

/** Relative L2 distance of two rows. */
function relativeL2(a, b) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

/** `nv_inference_count` and `nv_inference_exec_count` of the model, from the Prometheus text. */
async function counts(server) {
  const { body } = await server.metrics.render();
  const read = (name) => Number(body.split('\n').find((line) => line.startsWith(`${name}{`))?.split(' ').pop() ?? NaN);
  return { inferences: read('nv_inference_count'), executions: read('nv_inference_exec_count') };
}

/**
 * @param {any} lib  dist/index.js
 * @param {import('./subject.mjs').Subject} subject
 * @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runServe(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'serve.json'), { part: 'serve', subject: subject.label, dryRun: subject.dryRun });
  if (!subject.usable || !deadline.allows(30)) {
    results.data.skipped = subject.usable ? 'not enough time left in the bench part' : subject.reason;
    results.save();
    console.log(`serve: skipped: ${results.data.skipped}`);
    return;
  }
  const arch = subject.dryRun ? 'resnet18' : 'resnet50';
  const dtype = subject.dryRun ? 'float32' : 'float16';
  const tolerance = subject.dryRun ? 1e-4 : 1e-2;
  let server;
  try {
    server = lib.createServer({
      models: [{ arch, device: subject.device, dtype, maxBatchSize: 32, preferredBatchSizes: [8, 16, 32] }],
      host: '127.0.0.1', port: 0, logLevel: 'warn',
    });
    const loadStart = performance.now();
    await server.start();
    results.data.loadSeconds = (performance.now() - loadStart) / 1000;
    const model = server.models.get(arch);
    results.data.compiledBatchSizes = model.compiledBatchSizes;
    const url = `${server.address.url}/v2/models/${arch}/infer`;
    console.log(`serve: ${arch} ${dtype} on ${model.device} ready in ${results.data.loadSeconds.toFixed(1)} s (batch sizes ${model.compiledBatchSizes.join(', ')})`);

    // Every client its own row: 16 distinct images at once, each against the model's single-image run.
    const random = mulberry32(7);
    const images = Array.from({ length: 16 }, () => Float32Array.from(uniformArray(SAMPLE, random, -2, 2)));
    const answers = await Promise.all(images.map((values) => infer(url, inferBody(values))));
    let worst = 0;
    for (const [i, values] of images.entries()) {
      const [expected] = await model.execute(values, 1);
      worst = Math.max(worst, relativeL2(answers[i].row, expected));
    }
    results.data.rows = { count: images.length, worstRelativeL2: worst, tolerance, passed: worst <= tolerance };
    console.log(`serve: 16 concurrent clients, worst rel. L2 of a row vs the single-image run ${worst.toExponential(2)} (tolerance ${tolerance}): ${worst <= tolerance ? 'ok' : 'FAILED'}`);

    // Throughput per concurrency level, 4 s each while the part's time allows.
    const bodies = images.map(inferBody);
    const levels = [];
    for (const concurrency of [1, 8, 32, 64]) {
      if (!deadline.allows(12)) break;
      const before = await counts(server);
      const latencies = [];
      const until = performance.now() + 4000;
      await Promise.all(Array.from({ length: concurrency }, async (_, client) => {
        for (let k = client; performance.now() < until; k++) latencies.push((await infer(url, bodies[k % bodies.length])).ms);
      }));
      const seconds = (performance.now() - until + 4000) / 1000;
      const after = await counts(server);
      latencies.sort((a, b) => a - b);
      const level = {
        concurrency,
        imgPerSec: latencies.length / seconds,
        p50Ms: latencies[Math.floor(latencies.length / 2)],
        averageBatch: (after.inferences - before.inferences) / (after.executions - before.executions),
      };
      levels.push(level);
      results.push('levels', level);
    }
    console.log('serve: concurrency  img/s  p50 ms  avg batch');
    for (const l of levels) {
      console.log(`serve: ${String(l.concurrency).padStart(11)}  ${l.imgPerSec.toFixed(1).padStart(5)}  ${l.p50Ms.toFixed(1).padStart(6)}  ${l.averageBatch.toFixed(2).padStart(9)}`);
    }
  } catch (error) {
    results.data.error = describeError(error);
    results.save();
    console.log(`serve: FAILED: ${results.data.error}`);
    process.exitCode = 1;
  } finally {
    await server?.close().catch(() => {});
  }
}
