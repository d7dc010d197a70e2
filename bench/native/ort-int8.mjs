// Measurement aid: onnxruntime-node FP32 against its INT8 QDQ model (the QDQ export of lib/io/onnx-qdq.ts,
// quantized by a minmax calibration on one input, every conv and residual add fused; `int8-exact` leaves the
// residual convs in float, as the contract computes them), and ours: float32, and int8 as shipped (quantize()
// on the same calibration input: minmax, the input and stem float) and with an s8 input, all through
// Module.forward; one engine per child process, rounds interleaved so that load drifts hit all alike.
//   node bench/native/ort-int8.mjs [rounds] [model:batch:iterations ...]      (npm run build first)
//   node bench/native/ort-int8.mjs --child <fp32|int8|int8-exact|ours-fp32|ours-int8|ours-int8-s8-input> <model> <batch> <iterations> [threads]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === '--child') {
  const [engine, model, batchArg, iterationsArg, threadsArg] = process.argv.slice(3);
  const batch = Number(batchArg);
  const threads = Number(threadsArg ?? 2);
  const { getModel, manualSeed, toOnnxBytes } = await import('../../dist/index.js');
  const { ortInt8Model } = await import('../../dist/cli/bench-qdq.js');
  const ort = await import('onnxruntime-node');
  manualSeed(1);
  const network = getModel(model);
  const sample = [3, 224, 224];
  const input = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < input.length; i++) input[i] = 2 * Math.sin(i * 0.001) * Math.cos(i * 0.37);
  let run;
  if (engine.startsWith('ours-')) {
    // Our shipped path: quantize() (minmax, per channel; the input and stem float unless s8-input) on the
    // one calibration input the onnxruntime models get, then Module.forward.
    const { quantize, Tensor } = await import('../../dist/index.js');
    const calibration = Tensor.from(input.slice(0, 3 * 224 * 224), [1, ...sample]);
    network.to({ device: 'cpu' });
    const model = engine === 'ours-fp32' ? network : await quantize(network, { calibration, quantizeInput: engine === 'ours-int8-s8-input' });
    const x = Tensor.from(input, [batch, ...sample]);
    run = async () => (await model.forward(x)).data;
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
const engines = ['fp32', 'int8', 'int8-exact', 'ours-fp32', 'ours-int8', 'ours-int8-s8-input'];
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
console.log('| model | batch | ORT FP32 ms | ORT INT8 QDQ ms | ORT INT8 QDQ exact-residual ms | ours FP32 ms | ours INT8 ms | ours INT8, s8 input ms | ours INT8 / ORT FP32 | ours INT8 / ORT INT8 | ours INT8 / ours FP32 | top-1 vs ORT FP32: ORT INT8, ours INT8 |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, e] of results) {
  const [model, batch] = key.split('|');
  const agree = (other) => `${e.fp32.top1.filter((c, i) => c === other.top1[i]).length}/${e.fp32.top1.length}`;
  const [fp32, int8, exact, oursFp32, ours, oursS8] = engines.map((name) => median(e[name].ms));
  const f = (x) => x.toFixed(1);
  console.log(`| ${model} | ${batch} | ${f(fp32)} | ${f(int8)} | ${f(exact)} | ${f(oursFp32)} | ${f(ours)} | ${f(oursS8)} | ${(fp32 / ours).toFixed(2)}x | ${(int8 / ours).toFixed(2)}x | ${(oursFp32 / ours).toFixed(2)}x | ${agree(e.int8)}, ${agree(e['ours-int8'])} |`);
}
