// Measurement aid for the CPU backend's int8 path (`npm run build` first):
//   node bench/native/int8-graph.mjs <model> <batch> <iterations> [float-stem]
// Lowers a random-weight model to a graph, puts every conv's weights on per-channel grids and gives every
// conv output (and the input) a made-up but plausible scale (uint8 after a ReLU, int8 otherwise), then times
// the same graph at float32 and at int8 in this process. `float-stem` leaves the first conv in float (its
// input unquantized, its output quantized after it). Prints one JSON line with the median ms of each.
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

async function time(precision) {
  const executable = await compileGraph(quantized, { backend: 'cpu', batch, precision });
  await executable.run(input); // warm-up
  const ms = [];
  let output;
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    output = await executable.run(input);
    ms.push(performance.now() - start);
  }
  executable[Symbol.dispose]?.();
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], min: ms[0], first: Array.from(output[0].slice(0, 4)) };
}

const float32 = await time('float32');
const int8 = await time('int8');
console.log(JSON.stringify({ model: model ?? 'resnet50', batch, iterations, floatStem, float32, int8, speedup: float32.median / int8.median }));
