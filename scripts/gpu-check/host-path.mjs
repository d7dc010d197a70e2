// The engine's host path (issue 12 §1), inside the bench part: resnet50 FP16 through `model.forward` with
// its input in memory the engine lent (`model.allocateInput`: pinned, read by DMA with no host copy), in
// the forms a server feeds it: uint8 NHWC pixels (converted and normalised in the first kernel) and
// float32 NCHW. Each case runs one forward at a time first (its device-only time, CUDA events, is the
// 100 % the end-to-end figure is a share of), then several forwards in flight, each on its own input and
// execution context, so one run's copies overlap another's kernels: the end-to-end img/s a server sees.
// Batch 1 reports its end-to-end latency (p50) instead. Results go to bench.json's `hostPath`.
import { mulberry32 } from './random.mjs';
import { describeError } from './results.mjs';
import { summarizeTimes } from './stats.mjs';

/** The cases, in order of what the targets need most. */
export const HOST_PATH_CASES = Object.freeze([
  { batch: 256, dtype: 'uint8', layout: 'nhwc', inFlight: 3 },
  { batch: 1, dtype: 'uint8', layout: 'nhwc', inFlight: 1 },
  { batch: 32, dtype: 'uint8', layout: 'nhwc', inFlight: 4 },
  { batch: 256, dtype: 'float32', layout: 'nchw', inFlight: 3 },
]);

/**
 * Fills `x` (from allocateInput) with seeded values: pixels 0..255, or floats in about −2..2.
 * @param {{ data: Uint8Array | Float32Array }} x @param {number} seed
 */
function fill(x, seed) {
  const random = mulberry32(seed);
  const { data } = x;
  if (data instanceof Uint8Array) for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  else for (let i = 0; i < data.length; i++) data[i] = random() * 4 - 2;
}

/**
 * Runs `k` closed loops of forwards for `seconds`, each on its own input; resolves to images per second
 * (completed forwards × batch over the wall time) and the forwards completed.
 * @param {any} model @param {any[]} inputs @param {number} batch @param {number} seconds
 */
async function pipelined(model, inputs, batch, seconds) {
  const stopAt = performance.now() + seconds * 1000;
  let completed = 0;
  const start = performance.now();
  await Promise.all(inputs.map(async (x) => {
    while (performance.now() < stopAt) {
      await model.forward(x);
      completed++;
    }
  }));
  const wall = (performance.now() - start) / 1000;
  return { imgPerSec: (completed * batch) / wall, forwards: completed };
}

/**
 * Measures every case that the deadline leaves time for. `model` is placed on the GPU in FP16 already
 * (the bench's fp16 cells compiled batch 1 and 256 for it: those executables are reused).
 * @param {any} lib @param {any} model @param {{ left(): number }} deadline @param {{ seconds: number }} limits
 * @param {readonly { batch: number, dtype: string, layout: string, inFlight: number }[]} [cases]
 * @returns {Promise<any[]>} one record per case: measured, skipped (why) or failed (error)
 */
export async function measureHostPath(lib, model, deadline, limits, cases = HOST_PATH_CASES) {
  const records = [];
  for (const [index, c] of cases.entries()) {
    const label = `host path: ${c.dtype} ${c.layout.toUpperCase()} b${c.batch}`;
    // A case needs its compile (batch 32 is new) and two timing windows.
    if (deadline.left() < 4 + 2 * limits.seconds) {
      records.push({ ...c, skipped: "out of time (the part's time budget)" });
      console.log(`bench: ${label}: skipped, out of time`);
      continue;
    }
    try {
      const inputs = Array.from({ length: c.inFlight }, (_, i) => {
        const x = model.allocateInput(c.batch, { dtype: c.dtype, layout: c.layout });
        fill(x, 1000 + 10 * index + i);
        return x;
      });
      // The first forward compiles where needed (and captures this input form's CUDA graph), then a warm-up;
      // then every input at once, twice, so that each run in flight has its execution context (made, warmed
      // and captured on first use) before anything is timed.
      for (let i = 0; i < 3; i++) await model.forward(inputs[0]);
      for (let i = 0; i < 2 && inputs.length > 1; i++) await Promise.all(inputs.map((x) => model.forward(x)));
      // One at a time: end-to-end latency, and the device-only time of the same forwards.
      const e2eTimes = [];
      const deviceTimes = [];
      const oneAtATimeEnd = performance.now() + limits.seconds * 1000;
      while (e2eTimes.length < 5 || performance.now() < oneAtATimeEnd) {
        const start = performance.now();
        await model.forward(inputs[0]);
        e2eTimes.push(performance.now() - start);
        const device = lib.lastForwardStats?.(model)?.deviceMs ?? -1;
        if (device >= 0) deviceTimes.push(device);
        if (e2eTimes.length >= 2000) break;
      }
      const e2e = summarizeTimes(e2eTimes);
      const device = deviceTimes.length > 0 ? summarizeTimes(deviceTimes) : null;
      const flowing = c.inFlight > 1 ? await pipelined(model, inputs, c.batch, limits.seconds) : null;
      const deviceImgPerSec = device ? (c.batch * 1000) / device.medianMs : null;
      const e2eImgPerSec = flowing ? flowing.imgPerSec : (c.batch * 1000) / e2e.medianMs;
      const record = {
        ...c,
        e2eMedianMs: e2e.medianMs,
        e2eP90Ms: e2e.p90Ms,
        e2eImgPerSec,
        deviceMedianMs: device?.medianMs ?? null,
        deviceImgPerSec,
        shareOfDevice: deviceImgPerSec ? e2eImgPerSec / deviceImgPerSec : null,
        forwards: flowing?.forwards ?? e2e.iterations,
      };
      records.push(record);
      console.log(`bench: ${label}: e2e ${e2eImgPerSec.toFixed(1)} img/s with ${c.inFlight} in flight (one at a time: p50 ${e2e.medianMs.toFixed(3)} ms), device-only ${deviceImgPerSec?.toFixed(1) ?? '?'} img/s → ${record.shareOfDevice === null ? '?' : `${(100 * record.shareOfDevice).toFixed(1)} %`}`);
    } catch (error) {
      records.push({ ...c, error: describeError(error) });
      console.log(`bench: ${label}: FAILED: ${describeError(error)}`);
    }
  }
  return records;
}
