/**
 * The test data that is not part of the repository (photos, CIFAR-10 slices and checkpoints, ImageNet class
 * names): where it is, and the one way a test group says it skips because some of it is absent.
 *
 * The folder is RESNET_CUDNN_DATA when set, else `../shared/data` from the repository root (a data folder beside
 * the clone). Its layout: `images/{dog,grace_hopper}.jpg`, `cifar10/test_{subset_500,first20_exact}.bin`,
 * `cifar10-resnets/resnet{20,32,44,56}-*.th`, `imagenet/imagenet_classes.txt`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The test data folder (absolute). */
export const dataDir = process.env.RESNET_CUDNN_DATA ? path.resolve(process.env.RESNET_CUDNN_DATA) : path.resolve(repoRoot, '..', 'shared', 'data');

/** A path inside the test data folder, e.g. `dataPath('images', 'dog.jpg')`. */
export function dataPath(...parts: string[]): string {
  return path.join(dataDir, ...parts);
}

/** Null when every path exists; else which are absent, and how to point the tests at the data. */
export function missingData(...paths: string[]): string | null {
  const absent = paths.filter((p) => !existsSync(p));
  if (absent.length === 0) return null;
  const names = absent.map((p) => (p.startsWith(dataDir + path.sep) ? path.relative(dataDir, p) : p)).join(', ');
  return `${names} absent from the test data folder ${dataDir} (set RESNET_CUDNN_DATA)`;
}

/**
 * Null when every path exists; else why `group` skips, which is printed here, once, so that a run without the
 * data says what it did not test. Call it once per group, at module level: `describe.skipIf(dataAbsent(…) !== null)`.
 */
export function dataAbsent(group: string, ...paths: string[]): string | null {
  const reason = missingData(...paths);
  if (reason !== null) console.log(`skipping ${group}: ${reason}`);
  return reason;
}
