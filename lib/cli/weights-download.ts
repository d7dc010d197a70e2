/**
 * How the commands name registry weights and get their checkpoint: the list of valid names for a
 * model, and, on a machine that cannot reach the download host, a message that says what to do instead
 * (fetch the URL elsewhere, then put the file in PyTorch's cache or pass it as a file).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { DownloadError, checkpointsDir, isUnreachable } from '../io/download.js';
import { getModelWeights, type Weights } from '../models/weights.js';

/** `IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT (= IMAGENET1K_V2)`: the weights names `model` takes. */
export function weightsNames(model: string): string {
  const family = getModelWeights(model);
  return `${family.members().map((w) => w.name).join(', ')}, DEFAULT (= ${family.DEFAULT.name})`;
}

/**
 * The registry entry `name` denotes for `model`.
 * @throws InvalidArgumentError listing the valid names (and that a file may be given instead, `asFile`).
 */
export function weightsEntryOf(model: string, name: string, flag: string, asFile: string): Weights {
  const family = getModelWeights(model);
  let entry: Weights | null;
  try {
    entry = family.verify(name);
  } catch {
    entry = null;
  }
  if (entry === null) {
    throw new InvalidArgumentError(
      `Unknown weights ${JSON.stringify(name)} for ${model} in ${flag}: choose one of ${weightsNames(model)} (${family.enumName}), or ${asFile}`,
    );
  }
  return entry;
}

/**
 * `error` as it should reach the user: when the download host could not be reached, a DownloadError that
 * gives the URL, where PyTorch's cache expects the file, and `asFile` (how to pass the file instead);
 * any other error unchanged.
 */
export function explainDownloadFailure(error: unknown, entry: Weights, asFile: string): unknown {
  if (!isUnreachable(error)) return error;
  const reason = error.message.replace(/^Cannot download \S+: /, '');
  return new DownloadError(
    `Cannot download ${String(entry)} from ${entry.url}: the host cannot be reached from here (${reason}). `
      + `Download that URL on a machine with network access, then put the file at ${entry.cachedPath(checkpointsDir())} `
      + `(PyTorch's cache: $TORCH_HOME/hub/checkpoints, where it is found from then on) or ${asFile}`,
    error.url, error.status, { cause: error, networkCode: error.networkCode },
  );
}
