/**
 * What `resnet serve` checks before it listens, so that a model that cannot load stops the command
 * before any port is open or any log line claims a server: each weights file is read and loaded into its
 * architecture, and each registry checkpoint is in PyTorch's cache or downloaded into it now (the server
 * then finds it there). The server itself listens first and loads after (for liveness probes); this
 * check is the command's, for the mistakes a person makes on a command line or in a config file.
 * @module
 */
import { getModelWeights } from '../models/weights.js';
import { loadModelSource } from '../server/model-source.js';
import type { ResolvedModelOptions } from '../server/types.js';
import { isWeightsFile } from '../server/weights-file.js';
import { explainDownloadFailure } from './weights-download.js';

/** Discards what loading a model logs (the no-weights warning): the server logs it again when it loads. */
const quiet = { info() {}, warn() {} };

/**
 * Checks that every model's weights load: a file is read and loaded into the architecture (then let go),
 * a registry checkpoint is downloaded into the cache when it is not there.
 * @throws InvalidFileError / StateDictError for a weights file that is missing, unreadable or of another
 *   network; DownloadError (saying what to do offline) for a checkpoint that cannot be downloaded.
 */
export async function checkModelsLoad(models: readonly ResolvedModelOptions[], signal?: AbortSignal): Promise<void> {
  for (const model of models) {
    const { arch, weights } = model;
    if (weights === null) continue;
    if (isWeightsFile(weights)) {
      await loadModelSource(model, quiet);
      continue;
    }
    const entry = getModelWeights(arch).verify(weights)!;
    try {
      await entry.download(signal === undefined ? {} : { signal });
    } catch (error) {
      throw explainDownloadFailure(error, entry, `serve it as a file: --model ${arch}=FILE`);
    }
  }
}
