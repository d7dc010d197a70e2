// Measurement aid, one engine per process (so neither engine's idle threads disturb the other):
//   node bench/native/run-engine.mjs <ours|ort> <model> <batch> <iterations> [threads]
// Prints one JSON line: { engine, model, batch, ms: [per-iteration ms], output: first 8 logits }.
// OMP_WAIT_POLICY=default leaves libgomp's own default (spin a while, then sleep) in place.
import { createRequire } from 'node:module';
import { buildResnet } from './resnet-models.mjs';

const [engine, model, batchArg, iterationsArg, threadsArg] = process.argv.slice(2);
const batch = Number(batchArg);
const iterations = Number(iterationsArg);
const threads = Number(threadsArg ?? 2);
const { graph, onnx, inputName, outputName } = buildResnet(model);
const input = new Float32Array(batch * 3 * 224 * 224);
for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.001);

let run;
if (engine === 'ours') {
  if (process.env.OMP_WAIT_POLICY === 'default') delete process.env.OMP_WAIT_POLICY;
  else process.env.OMP_WAIT_POLICY ??= 'PASSIVE'; // what lib/runtime/native.ts does
  const addon = createRequire(import.meta.url)('../../build/Release/resnet_cudnn.node');
  const executable = await addon.compile(graph, { backend: 'cpu', batch, threads });
  run = async () => (await executable.run(input))[0];
} else {
  const ort = createRequire(import.meta.url)('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const tensor = new ort.Tensor('float32', input, [batch, 3, 224, 224]);
  run = async () => (await session.run({ [inputName]: tensor }))[outputName].data;
}

let output = await run(); // warm-up
output = await run();
const ms = [];
for (let i = 0; i < iterations; i++) {
  const start = performance.now();
  output = await run();
  ms.push(performance.now() - start);
}
console.log(JSON.stringify({ engine, model, batch, ms, output: Array.from(output.slice(0, 8)), sum: output.reduce((a, b) => a + Math.abs(b), 0) }));
