/**
 * Weights files a served model reads: a `.safetensors` file or a PyTorch checkpoint (`.pth`, `.pt`,
 * `.th`, `.tar`), told apart by extension as `resnet convert` does. Read through `io/` directly rather
 * than through the CLI's helpers, which import the package entry point (and so the server itself).
 * @module
 */
import { extname } from 'node:path';
import { loadSafetensorsFile } from '../io/safetensors.js';
import { extractStateDict, loadStateDictFile } from '../io/torch.js';
import { splitQuantized, type QuantizedWeights } from '../quantization/file.js';

// .th is what akamaster's CIFAR-10 checkpoints use; .tar the ImageNet training script's checkpoints.
const torchExtensions = ['.pth', '.pt', '.th', '.tar'];

/** Whether `weights` names a weights file by its extension (rather than a registry weights name). */
export function isWeightsFile(weights: string): boolean {
  const ext = extname(weights).toLowerCase();
  return ext === '.safetensors' || torchExtensions.includes(ext);
}

/** The extensions {@link isWeightsFile} accepts, for messages. */
export const weightsFileExtensions: readonly string[] = Object.freeze([...torchExtensions, '.safetensors']);

/**
 * The state dict of a weights file, `stripPrefix` removed from the keys that have it (`module.` of
 * `DataParallel` checkpoints), and the scales of a quantized safetensors file (see `saveQuantized`).
 * @throws InvalidFileError when the file cannot be read or parsed.
 */
export async function readWeightsFile(path: string, stripPrefix: string): Promise<QuantizedWeights> {
  if (extname(path).toLowerCase() !== '.safetensors') return { stateDict: await loadStateDictFile(path, { stripPrefix }), quantization: null };
  const { tensors, metadata } = await loadSafetensorsFile(path);
  return splitQuantized({ tensors: extractStateDict(tensors, { stripPrefix }), metadata });
}
