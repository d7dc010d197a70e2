// Part "serve": `resnet serve` on the GPU (resnet50 FP16, cuda:0) as a child process, measured by
// bench:serve's load generator (bench/serve/generator.mjs) the way Triton's perf_analyzer measures a server:
// client processes, closed-loop slots of one request each, warm-up then a measurement window, one image per
// request. First every concurrent client must get its own row (16 images at once against each sent alone).
// The jpeg kind's images go to the server's GPU image decoder (nvJPEG), which serve.json records (imageDecoder,
// from the server's readiness line; imageDecoderNote on a GPU where it was not in use). Then for each input
// kind (uint8, shm, jpeg, fp32; the order of the targets) the concurrency rises from a start level ×4 until the kind's throughput target is reached, p99 passes 50 ms, throughput stops growing
// or the part's time runs short (nextServeLevel in targets.mjs); uint8 also runs at concurrency 1 (its p50
// target). Shared memory carries UINT8 pixels, or FP32 where UINT8 was refused over HTTP. A kind the server
// refuses is recorded with the server's own words and the rest go on. Writes WORK/serve.json (the summary's serving table and targets)
// and prints each target met or missed. Runs after the bench part, logging into bench.log (so the check's
// output stays at eight files).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ResultFile, describeError } from './results.mjs';
import { repoRoot } from './library.mjs';
import { mulberry32, uniformArray } from './random.mjs';
import { relativeL2 } from './stats.mjs';
import { defaultPhotos } from '../../bench/serve/options.mjs';
import { evaluateServeTargets, nextServeLevel, SERVE_GOALS } from './targets.mjs';
import { numberFromEnv } from './subject.mjs';

/** What the part runs: the real thing on the GPU, a small rehearsal of the same code on the CPU. */
function settingsFor(subject) {
  if (subject.dryRun) {
    return {
      arch: 'resnet18', dtype: 'float32', tolerance: 1e-4, warmupMs: 300, durationMs: 1000,
      server: ['--device', 'cpu', '--input-size', '64', '--max-batch-size', '8', '--max-queue-size', '256'],
      plan: { start: 4, factor: 4, max: 4 },
    };
  }
  return {
    arch: 'resnet50', dtype: 'float16', tolerance: 1e-2, warmupMs: 1000, durationMs: 2500,
    server: ['--device', subject.device, '--dtype', 'float16', '--max-batch-size', '64', '--preferred-batch-sizes', '32,64', '--max-queue-size', '4096'],
    plan: { start: 32, factor: 4, max: 1024 },
  };
}

/** Where the JPEG corpus's photos are: GPU_CHECK_PHOTOS, .device/images (pack-device.sh), bench:serve's default (the test data's images/). */
function photoFolder() {
  const candidates = [process.env.GPU_CHECK_PHOTOS, path.join(repoRoot, '.device', 'images'), defaultPhotos];
  return candidates.find((dir) => dir && existsSync(dir)) ?? candidates[2];
}

/** A binary-tensor FP32 body for one image, `output` asked back in binary. */
function inferBody(g, values) {
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: g.inputName, shape: [1, 3, g.height, g.width], datatype: 'FP32', parameters: { binary_data_size: values.byteLength } }],
    outputs: [{ name: g.outputName, parameters: { binary_data: true } }],
  }));
  return { body: Buffer.concat([header, Buffer.from(values.buffer, values.byteOffset, values.byteLength)]), headerLength: header.length };
}

/** POSTs one body and returns the output row. */
async function inferRow(url, { body, headerLength }) {
  const response = await fetch(url, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${bytes.toString().slice(0, 300)}`);
  const binary = bytes.subarray(Number(response.headers.get('inference-header-content-length')));
  const row = new Float32Array(binary.length / 4);
  for (let i = 0; i < row.length; i++) row[i] = binary.readFloatLE(i * 4);
  return row;
}

/**
 * @param {any} lib  dist/index.js (unused: the server is a process of its own)
 * @param {import('./subject.mjs').Subject} subject
 * @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runServe(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'serve.json'), { part: 'serve', subject: subject.label, dryRun: subject.dryRun });
  const skip = (why) => {
    results.data.skipped = why;
    results.save();
    console.log(`serve: skipped: ${why}`);
  };
  if (!subject.usable) return skip(subject.reason);
  let gen;
  try {
    gen = {
      ...(await import('../../bench/serve/generator.mjs')),
      ...(await import('../../bench/serve/server-process.mjs')),
      ...(await import('../../bench/serve/server-view.mjs')),
      ...(await import('../../bench/serve/requests.mjs')),
      ...(await import('../../bench/serve/jpeg-corpus.mjs')),
      ...(await import('../../bench/serve/prometheus.mjs')),
      ...(await import('../../bench/serve/options.mjs')),
      ...(await import('../../bench/serve/tally.mjs')),
    };
  } catch (error) {
    return skip(`the load generator cannot load: ${describeError(error)} (it needs undici, a dev dependency: scripts/gpu-check/pack-device.sh packs it)`);
  }
  const s = settingsFor(subject);
  const clients = Math.max(1, Math.floor(numberFromEnv('GPU_CHECK_SERVE_CLIENTS', subject.dryRun ? 2 : gen.defaultClients((await import('node:os')).availableParallelism()))));
  const levelSeconds = (s.warmupMs + s.durationMs) / 1000 + 4;
  Object.assign(results.data, { model: `${s.arch} ${s.dtype}`, clients, warmupMs: s.warmupMs, durationMs: s.durationMs, kinds: {} });

  // The JPEG corpus first: without photos, that kind is skipped and says why.
  let jpegImages = [];
  let jpegWhy = null;
  try {
    jpegImages = await gen.makeJpegCorpus(gen.findPhotos(photoFolder()), 24);
  } catch (error) {
    jpegWhy = describeError(error).replace(/^Error: /, '');
  }

  const serverArgs = ['--model', s.arch, ...s.server, '--log-level', 'warn'];
  if (gen.serveTakes('--allow-shm')) serverArgs.push('--allow-shm');
  else results.data.shmNote = 'resnet serve has no --allow-shm yet: started without it';
  results.data.serverArgs = serverArgs;
  let server;
  const stop = async () => {
    await gen.stopClients(2000);
    await server?.stop(5000);
  };
  // gpu-check.sh's time limit (SIGTERM): clients and server go too, regions unregistered.
  process.once('SIGTERM', () => void stop().finally(() => process.exit(124)));
  try {
    const loadStart = performance.now();
    server = await gen.startServer(serverArgs, { readyTimeoutMs: Math.max(20, deadline.left() - 30) * 1000, log: (line) => console.log(`serve: ${line}`) });
    results.data.loadSeconds = (performance.now() - loadStart) / 1000;
    const g = gen.modelGeometry(await gen.getJson(`${server.url}/v2/models/${s.arch}`));
    const inferPath = `/v2/models/${s.arch}/infer`;
    console.log(`serve: ${s.arch} ${s.dtype} ready in ${results.data.loadSeconds.toFixed(1)} s: resnet serve ${serverArgs.join(' ')}`);
    // What decodes the jpeg kind's images: nvJPEG on a GPU (the server warmed it up at load, else it fell back
    // to the CPU workers with a warning), the CPU workers in a dry run.
    results.data.imageDecoder = gen.imageDecoderOf(server.readyLine(), s.arch);
    console.log(`serve: the jpeg input's images are decoded by ${results.data.imageDecoder ?? '(the server did not say)'}`);
    if (!subject.dryRun && !/^nvJPEG/.test(results.data.imageDecoder ?? '')) {
      results.data.imageDecoderNote = `the GPU image decoder was not in use: ${results.data.imageDecoder ?? 'the server did not say which'} (see bench.log)`;
      console.log(`serve: ${results.data.imageDecoderNote}; ${server.tail().split('\n').filter((line) => /image decoder|imageDecoder/.test(line)).join(' ')}`);
    }

    // Every client its own row: 16 distinct images at once, each against the same image sent alone.
    const random = mulberry32(7);
    const bodies = Array.from({ length: 16 }, () => inferBody(g, Float32Array.from(uniformArray(3 * g.height * g.width, random, -2, 2))));
    const alone = [];
    for (const body of bodies) alone.push(await inferRow(server.url + inferPath, body));
    const together = await Promise.all(bodies.map((body) => inferRow(server.url + inferPath, body)));
    const worst = Math.max(...together.map((row, i) => relativeL2(row, alone[i])));
    const passed = worst <= s.tolerance; // NaN fails
    results.data.rows = { count: bodies.length, worstRelativeL2: worst, tolerance: s.tolerance, precision: s.dtype, passed };
    console.log(`serve: 16 concurrent clients, worst rel. L2 of a row vs the same image alone ${worst.toExponential(2)} (tolerance ${s.tolerance}): ${passed ? 'ok' : 'FAILED'}`);

    // Shared memory carries UINT8 pixels, or FP32 where the server refused UINT8 (the uint8 kind runs first).
    let shmDatatype = 'uint8';
    const measure = async (kind, concurrency) => {
      await gen.settle(server, g.model, g.version);
      const load = await gen.runLoad({
        origin: server.url, path: inferPath, kind, shmDatatype, geometry: g, imagesPerRequest: 1, jpegImages, concurrency, clients,
        warmupMs: s.warmupMs, durationMs: s.durationMs, serverPid: server.pid, readMetrics: () => gen.metricsOf(server, g.model, g.version),
      });
      if (!load.ok) return load;
      const batches = load.metrics ? gen.snapshotDelta(load.metrics.before, load.metrics.after) : null;
      return {
        ok: true, concurrency, processes: load.processes, imgPerSec: load.imgPerSec, requestsPerSecond: load.requestsPerSecond,
        p50Ms: load.latency.p50, p90Ms: load.latency.p90, p99Ms: load.latency.p99, averageBatch: batches?.averageBatch ?? NaN,
        serverCores: load.serverCores, loadgenCores: load.loadgenCores, sent: load.sent, errors: load.errors, failures: gen.describeFailures(load.failures),
        unaccounted: load.unaccounted,
      };
    };
    const outOfTime = `out of time: the part's budget left no ${levelSeconds.toFixed(0)} s for another level`;
    for (const kind of /** @type {const} */ (['uint8', 'shm', 'jpeg', 'fp32'])) {
      const entry = { levels: [], why: undefined };
      results.data.kinds[kind] = entry;
      if (kind === 'jpeg' && jpegWhy) {
        entry.why = `skipped: ${jpegWhy}`;
        console.log(`serve: jpeg: ${entry.why}`);
        results.save();
        continue;
      }
      if (kind === 'shm' && results.data.kinds.uint8.levels.length === 0) {
        shmDatatype = 'fp32';
        entry.why = 'FP32 in shared memory: UINT8 was not measured over HTTP';
      }
      results.data.shmDatatype = shmDatatype;
      const series = [];
      const first = kind === 'uint8' ? [1] : [];
      for (let concurrency = first.shift() ?? nextServeLevel(series, SERVE_GOALS[kind], s.plan); concurrency !== null;
        concurrency = first.shift() ?? nextServeLevel(series, SERVE_GOALS[kind], s.plan)) {
        if (!deadline.allows(levelSeconds + 10)) {
          entry.why = entry.why ? `${entry.why}; ${outOfTime}` : outOfTime;
          break;
        }
        const level = await measure(kind, concurrency);
        if (!level.ok) {
          const said = entry.levels.length === 0 ? `the server refused it: ${level.message}` : `stopped at concurrency ${concurrency}: ${level.message}`;
          entry.why = entry.why ? `${entry.why}; ${said}` : said;
          console.log(`serve: ${kind}: not measured: ${level.message}`);
          break;
        }
        entry.levels.push(level);
        if (concurrency !== 1 || kind !== 'uint8') series.push(level);
        results.save();
        console.log(`serve: ${kind} at concurrency ${concurrency}: ${level.imgPerSec.toFixed(0)} img/s, p50 ${level.p50Ms.toFixed(2)} ms, p99 ${level.p99Ms.toFixed(2)} ms, batch ${level.averageBatch.toFixed(1)}, server ${level.serverCores.toFixed(2)} cores, load generator ${level.loadgenCores.toFixed(2)} cores, errors ${level.failures}`);
      }
      results.save();
    }
    const targets = evaluateServeTargets(results.data.kinds);
    for (const t of targets) console.log(`serve: target${subject.dryRun ? ' (dry run: CPU figures, not GPU figures)' : ''}: ${t.label}: ${t.text}`);
  } catch (error) {
    results.data.error = describeError(error);
    if (server) results.data.serverTail = server.tail().split('\n').slice(-10).join('\n');
    console.log(`serve: FAILED: ${results.data.error}`);
    process.exitCode = 1;
  } finally {
    results.save();
    await stop();
  }
}
