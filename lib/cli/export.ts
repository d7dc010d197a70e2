/**
 * `resnet export`: a model (random or with weights from a file) as an ONNX file; a quantized weights file
 * (`resnet quantize`) is written as QDQ nodes with its scales, the form onnxruntime runs in integers.
 * @module
 */
import { exportOnnx } from '../index.js';
import { loadWeightsFile } from './convert.js';
import { buildNamedModel, checkModelName, defaultInputSize } from './model-names.js';
import { checkpointPrefix } from './quantize.js';

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
  if (options.weights) await loadWeightsFile(model, options.model, options.weights, checkpointPrefix(checkModelName(options.model)));
  await exportOnnx(model, options.out, {
    opset: options.opset,
    dynamicBatch: !options.staticBatch,
    inputShape: [3, inputSize, inputSize],
    foldBatchNorm: Boolean(options.foldBatchNorm),
  });
  const quantized = model.quantization ? `, int8 QDQ with the scales of ${options.weights} (${model.quantization.method})` : '';
  console.log(`wrote ${options.out} (${options.model}, opset ${options.opset}, ${options.staticBatch ? 'batch 1' : 'dynamic batch'}${quantized})`);
}
