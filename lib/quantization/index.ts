/**
 * Post-training static quantization: calibrate (`quantize`), save and load the scales with the weights.
 * @module
 */
export { quantize, valueQuantization, weightScalesOf, type QuantizeOptions } from './quantize.js';
export type { CalibrationData } from './calibrate.js';
export { MagnitudeHistogram, histogramBins, entropyStartBin, percentileThreshold, entropyThreshold, thresholdOf } from './observer.js';
export {
  saveQuantized, loadQuantized, quantizedSafetensors, splitQuantized, checkQuantizationFits, applyWeights,
  quantizationMetadataKey, type QuantizedWeights,
} from './file.js';
