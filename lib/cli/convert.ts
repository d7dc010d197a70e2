/**
 * `resnet convert`: a state dict from a PyTorch checkpoint to safetensors and back, chosen by the
 * files' extensions; also the extension rules the other commands use to read a weights file.
 * @module
 */
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { InvalidArgumentError, InvalidFileError, StateDictError } from '../errors.js';
import {
  applyWeights, extractStateDict, loadSafetensors, loadSafetensorsFile, loadStateDictFile, saveCheckpoint, saveSafetensors, splitQuantized,
  type Module, type QuantizedWeights, type StateDict,
} from '../index.js';

/** The two file formats a state dict is read from and written to. */
export type StateDictFormat = 'torch' | 'safetensors';

// .th is what akamaster's CIFAR-10 checkpoints use; .tar the ImageNet training script's checkpoints.
const torchExtensions = ['.pth', '.pt', '.th', '.tar'];

/**
 * The format of a weights file, by its extension.
 * @throws InvalidArgumentError for any other extension (the message lists the accepted ones).
 */
export function stateDictFormatOf(path: string, name = 'file'): StateDictFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (torchExtensions.includes(ext)) return 'torch';
  throw new InvalidArgumentError(
    `Cannot tell the format of ${name} ${JSON.stringify(path)} from its extension; expected .safetensors or one of ${torchExtensions.join(', ')}`,
  );
}

/** Whether `path` names a weights file by its extension (rather than, say, a registry weights name). */
export function looksLikeStateDictFile(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.safetensors' || torchExtensions.includes(ext);
}

/**
 * Reads the state dict of a `.safetensors` file or a PyTorch checkpoint (`.pth`, `.pt`, `.th`, `.tar`),
 * removing `stripPrefix` from the keys that have it.
 * @throws InvalidFileError when the file cannot be read or parsed; InvalidArgumentError for an unknown extension.
 */
export async function readStateDictFile(path: string, stripPrefix?: string): Promise<StateDict> {
  const options = stripPrefix === undefined ? {} : { stripPrefix };
  if (stateDictFormatOf(path, 'weights file') === 'safetensors') {
    const tensors = await loadSafetensors(path);
    return stripPrefix === undefined ? tensors : extractStateDict(tensors, options);
  }
  return loadStateDictFile(path, options);
}

/**
 * {@link readStateDictFile}, with the quantization scales of a quantized safetensors file apart (see
 * `saveQuantized`); null for any other file.
 */
export async function readWeightsFile(path: string, stripPrefix?: string): Promise<QuantizedWeights> {
  if (stateDictFormatOf(path, 'weights file') !== 'safetensors') return { stateDict: await readStateDictFile(path, stripPrefix), quantization: null };
  const contents = await loadSafetensorsFile(path);
  const tensors = stripPrefix === undefined ? contents.tensors : extractStateDict(contents.tensors, { stripPrefix });
  return splitQuantized({ tensors, metadata: contents.metadata });
}

/** `n things (first: a, b, c)`, or null when there are none. */
function summary(items: readonly string[], what: string): string | null {
  if (items.length === 0) return null;
  const shown = items.slice(0, 3).join(', ');
  return `${items.length} ${what} (${items.length > 3 ? 'first: ' : ''}${shown})`;
}

/**
 * Loads the weights file into `model` (strict; a quantized safetensors file's scales too), reporting a mismatch on one line, as a command's error
 * should be (`loadStateDict`'s own message lists every key, PyTorch's way).
 * @throws StateDictError naming the file, the model and the first few missing/unexpected/misshaped keys.
 */
export async function loadWeightsFile(model: Module, modelName: string, path: string, stripPrefix?: string): Promise<void> {
  const { stateDict, quantization } = await readWeightsFile(path, stripPrefix);
  try {
    applyWeights(model, stateDict, quantization, JSON.stringify(path));
  } catch (error) {
    if (!(error instanceof StateDictError)) throw error;
    const parts = [
      summary(error.missingKeys, 'missing keys'),
      summary(error.unexpectedKeys, 'unexpected keys'),
      summary(error.shapeMismatches.map((m) => `${m.key} [${m.received.join(', ')}] for [${m.expected.join(', ')}]`), 'shape mismatches'),
    ].filter((p) => p !== null);
    throw new StateDictError(`${JSON.stringify(path)} does not fit ${modelName}: ${parts.join('; ')}`, error);
  }
}

/** Options of {@link runConvert}. */
export interface ConvertOptions {
  /** Removed from every key that starts with it (`'module.'` for `DataParallel` checkpoints). */
  stripPrefix?: string;
}

/** What {@link runConvert} wrote. */
export interface ConvertReport {
  /** The file written. */
  path: string;
  /** Its format: `safetensors`, or `torch` (a PyTorch zip checkpoint, as `torch.save` writes). */
  format: StateDictFormat;
  /** How many tensors it holds. */
  tensors: number;
  /** Its size in bytes. */
  bytes: number;
}

/**
 * Converts the state dict in `input` to the format `output`'s extension names and writes it; resolves
 * to what was written.
 */
export async function runConvert(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertReport> {
  checkConvertPaths(input, output);
  const format = stateDictFormatOf(output, 'OUT');
  const stateDict = await readStateDictFile(input, options.stripPrefix);
  try {
    if (format === 'safetensors') await saveSafetensors(output, stateDict);
    else await saveCheckpoint(stateDict, output);
  } catch (cause) {
    if (cause instanceof InvalidFileError || cause instanceof InvalidArgumentError) throw cause;
    throw new InvalidFileError(`Cannot write ${JSON.stringify(output)}: ${(cause as Error).message}`, { cause });
  }
  return { path: output, format, tensors: Object.keys(stateDict).length, bytes: (await stat(output)).size };
}

/**
 * Checks both extensions before any reading, so that a typo in OUT costs nothing.
 * @throws InvalidArgumentError for an extension of neither format.
 */
export function checkConvertPaths(input: string, output: string): void {
  stateDictFormatOf(input, 'IN');
  stateDictFormatOf(output, 'OUT');
}

/** `wrote out.safetensors: safetensors, 4 tensors, 1234 bytes`. */
export function formatConvertReport(report: ConvertReport): string {
  const format = report.format === 'safetensors' ? 'safetensors' : 'PyTorch zip checkpoint';
  return `wrote ${report.path}: ${format}, ${report.tensors} tensors, ${report.bytes} bytes`;
}
