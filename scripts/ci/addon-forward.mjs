#!/usr/bin/env node
// Runs one forward of a seeded resnet18 (10 classes, batch 2, 32x32, CPU, 1 thread) through whatever addon the
// loader picks ($RESNET_CUDNN_ADDON first) and prints { addon, logits } as JSON: two addons built from the
// same sources must print the same logits (scripts/ci/build-gyp.sh compares node-gyp's with cmake-js's).
// Needs dist/ (npm run build:ts).
import { manualSeed, resnet18, setNumThreads, Tensor } from '../../dist/index.js';
import { loadedAddonFile } from '../../dist/runtime/native.js';

manualSeed(7);
setNumThreads(1);  // one thread: the same reductions in the same order in both addons
const model = resnet18({ numClasses: 10 });
const shape = [2, 3, 32, 32];
const data = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37) + 0.25 * Math.cos(i * 0.011));
const logits = await model.forward(Tensor.from(data, shape));
process.stdout.write(`${JSON.stringify({ addon: loadedAddonFile(), logits: Array.from(logits.data) })}\n`);
