/**
 * `resnet export`: a model (random or with weights from a safetensors file) as an ONNX file.
 * @module
 */
import { exportOnnx, getModel, loadSafetensors } from '../index.js';

/** Options of {@link runExport}. */
export interface ExportOptions {
  model: string;
  out: string;
  weights?: string;
  numClasses?: number;
  opset: number;
  inputSize: number;
  staticBatch?: boolean;
  foldBatchNorm?: boolean;
}

/** Builds the model, loads weights if given, and writes the ONNX file. */
export async function runExport(options: ExportOptions): Promise<void> {
  const model = getModel(options.model, options.numClasses === undefined ? {} : { numClasses: options.numClasses });
  if (options.weights) model.loadStateDict(await loadSafetensors(options.weights));
  await exportOnnx(model, options.out, {
    opset: options.opset,
    dynamicBatch: !options.staticBatch,
    inputShape: [3, options.inputSize, options.inputSize],
    foldBatchNorm: Boolean(options.foldBatchNorm),
  });
  console.log(`wrote ${options.out} (${options.model}, opset ${options.opset}, ${options.staticBatch ? 'batch 1' : 'dynamic batch'})`);
}
