/**
 * The library object the targets need, taken from the built `dist/` (run `npm run build:ts` first).
 * Only the parser modules are imported: the fuzzer needs no native addon.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);

/** Imports the parsers from `dist/`; fails with the fix when the build is missing. */
export async function loadDistLib() {
  if (!existsSync(fileURLToPath(new URL('io/pickle.js', dist)))) {
    throw new Error('dist/io/pickle.js is missing: run `npm run build:ts` before fuzzing');
  }
  const [errors, pickle, zip, torch, torchSave, safetensors, tensor] = await Promise.all(
    ['errors.js', 'io/pickle.js', 'io/zip.js', 'io/torch.js', 'io/torch-save.js', 'io/safetensors.js', 'tensor.js'].map((m) => import(new URL(m, dist).href)),
  );
  return {
    ResnetError: errors.ResnetError,
    unpickle: pickle.unpickle,
    checkpointPickleHooks: torch.checkpointPickleHooks,
    readZip: zip.readZip,
    writeZip: zip.writeZip,
    crc32: zip.crc32,
    isZip: zip.isZip,
    parseCheckpoint: torch.parseCheckpoint,
    serializeCheckpoint: torchSave.serializeCheckpoint,
    parseSafetensorsFile: safetensors.parseSafetensorsFile,
    serializeSafetensors: safetensors.serializeSafetensors,
    Tensor: tensor.Tensor,
  };
}
