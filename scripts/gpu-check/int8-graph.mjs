// A quantized graph for the int8 part (and the tests of the CUDA int8 plan) while the library's quantize() is
// not there: MADE-UP calibration, not quantize()'s. Each value's range is the largest |value| of one float run
// of the graph (valueRanges); a value written with a ReLU (or max-pooled from one) is uint8 with scale
// range/255, any other int8 with range/127; every conv gets per-output-channel weight scales max|w[o]|/127 and
// its weights on that grid (the library's own rounding, lib/nn/quantization.ts's quantizeWeightToGrid).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './library.mjs';

/**
 * The library's weight rounding, from `dist/` (the module the lowering and ONNX export use).
 * @returns {Promise<(weight: Float32Array, scales: Float32Array) => Float32Array>}
 */
export async function weightRounding() {
  const module = await import(pathToFileURL(path.join(repoRoot, 'dist', 'nn', 'quantization.js')).href);
  return module.quantizeWeightToGrid;
}

/**
 * `graph` quantized with scales from `ranges` (max |value| per value id; see the top of the file).
 * @param {any} graph @param {readonly number[]} ranges
 * @param {(weight: Float32Array, scales: Float32Array) => Float32Array} toGrid  quantizeWeightToGrid
 * @returns {any} the quantized graph (the input graph is not changed)
 */
export function quantizeWithRanges(graph, ranges, toGrid) {
  /** @type {Set<number>} */
  const unsigned = new Set();
  for (const op of graph.ops) {
    if (((op.op === 'conv' || op.op === 'add') && op.relu) || op.op === 'relu') unsigned.add(op.dst);
  }
  for (const op of graph.ops) if (op.op === 'maxpool' && unsigned.has(op.src)) unsigned.add(op.dst);
  const values = graph.values.map((/** @type {any} */ v, /** @type {number} */ id) => {
    const range = Math.max(ranges[id] ?? 1, 1e-6);
    return { ...v, quant: unsigned.has(id) ? { scale: range / 255, dtype: 'uint8' } : { scale: range / 127, dtype: 'int8' } };
  });
  // A max pool keeps its source's quantization (the contract).
  for (const op of graph.ops) if (op.op === 'maxpool') values[op.dst] = { ...values[op.dst], quant: values[op.src].quant };
  const ops = graph.ops.map((/** @type {any} */ op) => {
    if (op.op !== 'conv') return op;
    const perChannel = op.weight.length / op.outChannels;
    const scales = Float32Array.from({ length: op.outChannels }, (_, o) => {
      let max = 0;
      for (let i = o * perChannel; i < (o + 1) * perChannel; i++) max = Math.max(max, Math.abs(op.weight[i]));
      return Math.max(max, 1e-8) / 127;
    });
    return { ...op, weight: toGrid(Float32Array.from(op.weight), scales), weightScales: scales };
  });
  return { ...graph, values, ops };
}

/**
 * The largest |value| of every value of `graph` over one run of `input` (`batch` samples): the graph compiled
 * with every value as an output.
 * @param {any} lib @param {any} graph @param {Record<string, unknown>} options  compileGraph's (backend, device, precision)
 * @param {number} batch @param {Float32Array} input
 * @returns {Promise<number[]>}
 */
export async function valueRanges(lib, graph, options, batch, input) {
  const all = graph.values.map((/** @type {unknown} */ _, /** @type {number} */ id) => id);
  const executable = await lib.compileGraph({ ...graph, outputs: all }, { ...options, batch });
  try {
    const outputs = await executable.run(input);
    return outputs.map((/** @type {Float32Array} */ data) => data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
  } finally {
    executable.dispose();
  }
}
