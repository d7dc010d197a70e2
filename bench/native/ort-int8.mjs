// Measurement aid: onnxruntime-node FP32 against its INT8 QDQ model (the QDQ export of lib/io/onnx-qdq.ts,
// quantized by a minmax calibration on one input, every conv and residual add fused; `int8-exact` leaves the
// residual convs in float, as the contract computes them), and our CPU engine's int8 on the same lowered
// graph with the same scales (`ours-int8`, compileGraph), one engine per child process, rounds interleaved
// so that load drifts hit all alike. Until `quantize()` gives Module an int8 forward this is how ours is
// timed next to onnxruntime's int8.
//   node bench/native/ort-int8.mjs [rounds] [model:batch:iterations ...]      (npm run build first)
//   node bench/native/ort-int8.mjs --child <fp32|int8|int8-exact|ours-int8> <model> <batch> <iterations> [threads]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === '--child') {
  const [engine, model, batchArg, iterationsArg, threadsArg] = process.argv.slice(3);
  const batch = Number(batchArg);
  const threads = Number(threadsArg ?? 2);
  const { getModel, manualSeed, toOnnxBytes } = await import('../../dist/index.js');
  const { ortInt8Model } = await import('../../dist/cli/bench-qdq.js');
  const { quantizedLowering } = await import('../../dist/io/onnx-qdq.js');
  const { compileGraph } = await import('../../dist/index.js');
  const ort = await import('onnxruntime-node');
  manualSeed(1);
  const network = getModel(model);
  const sample = [3, 224, 224];
  const input = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < input.length; i++) input[i] = 2 * Math.sin(i * 0.001) * Math.cos(i * 0.37);
  let run;
  if (engine === 'ours-int8') {
    const { quantization } = await ortInt8Model(ort, network, sample, input.subarray(0, 3 * 224 * 224), 1, threads);
    const executable = await compileGraph(quantizedLowering(network, sample, quantization).graph, { backend: 'cpu', batch, threads, precision: 'int8' });
    run = async () => (await executable.run(input))[0];
  } else {
    let bytes;
    if (engine === 'fp32') bytes = toOnnxBytes(network, { inputShape: sample });
    else {
      const int8 = await ortInt8Model(ort, network, sample, input.subarray(0, 3 * 224 * 224), 1, threads);
      bytes = engine === 'int8' ? int8.bytes : toOnnxBytes(network, { inputShape: sample, quantization: int8.quantization });
    }
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, [batch, ...sample]) };
    run = async () => (await session.run(feeds))[session.outputNames[0]].data;
  }
  await run();
  let output = await run();
  const ms = [];
  for (let i = 0; i < Number(iterationsArg); i++) {
    const start = performance.now();
    output = await run();
    ms.push(performance.now() - start);
  }
  console.log(JSON.stringify({ engine, model, batch, ms, top1: Array.from({ length: batch }, (_, b) => { const row = output.subarray(b * 1000, (b + 1) * 1000); return row.indexOf(Math.max(...row)); }) }));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
const rounds = Number(process.argv[2] ?? 3);
const engines = ['fp32', 'int8', 'int8-exact', 'ours-int8'];
const cells = (process.argv.length > 3 ? process.argv.slice(3) : ['resnet50:1:20', 'resnet50:8:4']).map((cell) => {
  const [model, batch, iterations] = cell.split(':');
  return { model, batch: Number(batch), iterations: Number(iterations) };
});
const results = new Map();
for (let round = 0; round < rounds; round++) {
  for (const cell of cells) {
    for (const engine of round % 2 ? [...engines].reverse() : engines) {
      const run = spawnSync(process.execPath, [self, '--child', engine, cell.model, String(cell.batch), String(cell.iterations), '2'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`${engine} ${cell.model} failed: ${run.stderr}`);
      const { ms, top1 } = JSON.parse(run.stdout.trim().split('\n').at(-1));
      const key = `${cell.model}|${cell.batch}`;
      const entry = results.get(key) ?? Object.fromEntries(engines.map((e) => [e, { ms: [], top1: [] }]));
      entry[engine].ms.push(...ms);
      entry[engine].top1 = top1;
      results.set(key, entry);
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log('| model | batch | ORT FP32 ms | ORT INT8 QDQ fused ms | ORT INT8 QDQ exact-residual ms | ours INT8 ms | ORT INT8 fused / ORT FP32 | ours INT8 / ORT FP32 | ours INT8 / ORT INT8 fused | top-1 FP32 vs ORT INT8, ours INT8 |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, e] of results) {
  const [model, batch] = key.split('|');
  const agree = (other) => `${e.fp32.top1.filter((c, i) => c === other.top1[i]).length}/${e.fp32.top1.length}`;
  const [fp32, int8, exact, ours] = [e.fp32, e.int8, e['int8-exact'], e['ours-int8']].map((x) => median(x.ms));
  console.log(`| ${model} | ${batch} | ${fp32.toFixed(1)} | ${int8.toFixed(1)} | ${exact.toFixed(1)} | ${ours.toFixed(1)} | ${(fp32 / int8).toFixed(2)}x | ${(fp32 / ours).toFixed(2)}x | ${(int8 / ours).toFixed(2)}x | ${agree(e.int8)}, ${agree(e['ours-int8'])} |`);
}
