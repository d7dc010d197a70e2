/**
 * `resnet export`: a model (random or with weights from a safetensors file) as an ONNX file.
 * @module
 */
import { exportOnnx, loadSafetensors } from '../index.js';
import { buildNamedModel, defaultInputSize } from './model-names.js';

/** Options of {@link runExport}. */
export interface ExportOptions {
  /** A torchvision ImageNet ResNet (`listModels()`) or a CIFAR-10 one (`listCifarModels()`). */
  model: string;
  out: string;
  weights?: string;
  numClasses?: number;
  opset: number;
  /** The side of the square input recorded in the graph; default 224 for ImageNet networks, 32 for CIFAR-10 ones. */
  inputSize?: number;
  staticBatch?: boolean;
  foldBatchNorm?: boolean;
}

/** Builds the model, loads weights if given, and writes the ONNX file. */
export async function runExport(options: ExportOptions): Promise<void> {
  const model = buildNamedModel(options.model, options.numClasses === undefined ? {} : { numClasses: options.numClasses });
  const inputSize = options.inputSize ?? defaultInputSize(options.model);
  if (options.weights) model.loadStateDict(await loadSafetensors(options.weights));
  await exportOnnx(model, options.out, {
    opset: options.opset,
    dynamicBatch: !options.staticBatch,
    inputShape: [3, inputSize, inputSize],
    foldBatchNorm: Boolean(options.foldBatchNorm),
  });
  console.log(`wrote ${options.out} (${options.model}, opset ${options.opset}, ${options.staticBatch ? 'batch 1' : 'dynamic batch'})`);
}
