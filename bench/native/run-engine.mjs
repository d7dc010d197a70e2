// Measurement aid, one engine per process (so neither engine's idle threads disturb the other):
//   node bench/native/run-engine.mjs <ours|ort> <model> <batch> <iterations> [threads]
// Both engines run the same model from the public API (`npm run build` first): ours through
// `model.forward`, onnxruntime-node on its ONNX export. Prints one JSON line:
// { engine, model, batch, ms: [per-iteration ms], output: first 8 logits }.
// OMP_WAIT_POLICY=default leaves libgomp's own default (spin a while, then sleep) in place.
const [engine, model, batchArg, iterationsArg, threadsArg] = process.argv.slice(2);
const batch = Number(batchArg);
const iterations = Number(iterationsArg);
const threads = Number(threadsArg ?? 2);
// libgomp reads its policy when the addon loads, so this must precede the import.
if (process.env.OMP_WAIT_POLICY === 'default') delete process.env.OMP_WAIT_POLICY;
const { getModel, manualSeed, setNumThreads, Tensor, toOnnxBytes } = await import('../../dist/index.js');

manualSeed(1);
const network = getModel(model);
const shape = [batch, 3, 224, 224];
const input = new Float32Array(batch * 3 * 224 * 224);
for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.001);

let run;
if (engine === 'ours') {
  setNumThreads(threads);
  const x = Tensor.from(input, shape);
  run = async () => (await network.forward(x)).data;
} else {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(toOnnxBytes(network, { inputShape: shape.slice(1) }), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, shape) };
  run = async () => (await session.run(feeds))[session.outputNames[0]].data;
}

await run(); // warm-up
let output = await run();
const ms = [];
for (let i = 0; i < iterations; i++) {
  const start = performance.now();
  output = await run();
  ms.push(performance.now() - start);
}
console.log(JSON.stringify({ engine, model, batch, ms, output: Array.from(output.slice(0, 8)), sum: output.reduce((a, b) => a + Math.abs(b), 0) }));
