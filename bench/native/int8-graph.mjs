// Measurement aid for the CPU backend's int8 path (`npm run build` first):
//   node bench/native/int8-graph.mjs <model> <batch> <iterations> [float-stem]
// Lowers a random-weight model to a graph, puts every conv's weights on per-channel grids and gives every
// conv output (and the input) a made-up but plausible scale (uint8 after a ReLU, int8 otherwise), then times
// the same graph at float32 and at int8 in this process. `float-stem` leaves the first conv in float (its
// input unquantized, its output quantized after it). Prints one JSON line: median and min ms of each,
// and the median of the per-round speedups.
// The scales only move numbers, not the work: this measures speed, never accuracy.
const [model, batchArg, iterationsArg, stemArg] = process.argv.slice(2);
const batch = Number(batchArg);
const iterations = Number(iterationsArg ?? 20);
const floatStem = stemArg === 'float-stem';
const { getModel, manualSeed, Tracer, lower, compileGraph } = await import('../../dist/index.js');
const { quantizeWeightToGrid } = await import('../../dist/nn/quantization.js');

manualSeed(1);
const graph = lower(Tracer.trace(getModel(model ?? 'resnet50'), [3, 224, 224]));
const values = graph.values.map(({ shape }) => ({ shape }));
values[graph.input].quant = floatStem ? undefined : { scale: 2.64 / 127, dtype: 'int8' };
const ops = graph.ops.map((op, index) => {
  if (op.op === 'maxpool' && values[op.src].quant) values[op.dst].quant = values[op.src].quant;
  if (op.op !== 'conv') return op;
  values[op.dst].quant = { scale: op.relu ? 0.03 : 0.05, dtype: op.relu ? 'uint8' : 'int8' };
  if (floatStem && index === 0) return op;
  const perChannel = op.weight.length / op.outChannels;
  const scales = new Float32Array(op.outChannels);
  for (let o = 0; o < op.outChannels; o++) {
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) scales[o] = Math.max(scales[o], Math.abs(op.weight[i]) / 127);
  }
  return { ...op, weight: quantizeWeightToGrid(Float32Array.from(op.weight), scales), weightScales: scales };
});
const quantized = { ...graph, values, ops };

const input = new Float32Array(batch * 3 * 224 * 224);
for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.001) * 2;

// The two executables run alternately, one of each per round, so that load from other processes hits both
// alike; the per-round ratio is reported besides each median.
const float32 = await compileGraph(quantized, { backend: 'cpu', batch, precision: 'float32' });
const int8 = await compileGraph(quantized, { backend: 'cpu', batch, precision: 'int8' });
const timeRun = async (executable) => {
  const start = performance.now();
  await executable.run(input);
  return performance.now() - start;
};
await timeRun(float32); // warm-up
await timeRun(int8);
const rounds = [];
for (let i = 0; i < iterations; i++) rounds.push({ float32: await timeRun(float32), int8: await timeRun(int8) });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (key) => ({ median: median(rounds.map((r) => r[key])), min: Math.min(...rounds.map((r) => r[key])) });
console.log(JSON.stringify({
  model: model ?? 'resnet50', batch, iterations, floatStem, float32: summary('float32'), int8: summary('int8'),
  speedup: median(rounds.map((r) => r.float32 / r.int8)),
}));
