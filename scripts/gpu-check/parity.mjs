// Part "parity": torchvision's own models (random weights, non-trivial BN statistics, written by
// torch_reference.py as safetensors with an input and PyTorch's FP32 logits, TF32 off) loaded into ours
// through the public API and run on our CPU backend (the hand-over check: keys, layouts, BN folding) and
// on the subject in every precision. Relative L2 of the logits against PyTorch's FP32 logits. Results go to
// WORK/parity.json.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ResultFile, describeError, readJson } from './results.mjs';
import { relativeL2, maxRelativeError } from './stats.mjs';
import { toleranceOf } from './tolerances.mjs';
import { place } from './subject.mjs';

/**
 * @param {string} file
 * @returns {string | undefined} the file's first line
 */
function readText(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n')[0] : undefined;
}


/**
 * @param {any} lib @param {import('./subject.mjs').Subject} subject @param {string} work
 * @param {import('./results.mjs').Deadline} deadline
 */
export async function runParity(lib, subject, work, deadline) {
  const results = new ResultFile(path.join(work, 'parity.json'), { part: 'parity', subject: subject.label, dryRun: subject.dryRun });
  const manifestFile = path.join(work, 'torch_ref', 'manifest.json');
  const manifest = readJson(manifestFile);
  if (!manifest) {
    const torchStatus = readText(path.join(work, 'torch_status'));
    results.data.skipped = torchStatus?.startsWith('none:')
      ? `no PyTorch reference: ${torchStatus.slice('none:'.length).trim()}`
      : `no PyTorch reference (${manifestFile} is missing: see torch_reference.log)`;
    results.save();
    console.log(`parity: skipped: ${results.data.skipped}`);
    return;
  }
  if (manifest.skipped) {
    results.data.skipped = `no PyTorch reference: ${manifest.skipped}`;
    results.save();
    console.log(`parity: skipped: ${results.data.skipped}`);
    return;
  }
  results.data.reference = { device: manifest.device, torch: manifest.torch, torchvision: manifest.torchvision, input: manifest.input };
  results.save();

  /** @type {{ device: string, precision: string }[]} */
  const runs = [{ device: 'cpu', precision: 'float32' }];
  if (subject.usable && !subject.dryRun) runs.push(...subject.precisions.map((precision) => ({ device: subject.device, precision })));

  for (const entry of manifest.models ?? []) {
    const base = { group: 'torch', model: entry.name, batch: manifest.input?.shape?.[0], torchErrors: entry.torchErrors };
    if (!subject.usable) {
      for (const precision of subject.precisions) {
        results.push('checks', { ...base, name: `${entry.name} ${subject.device} ${precision}`, precision, skipped: subject.reason });
      }
    }
    if (!deadline.allows(8)) {
      results.push('checks', { ...base, name: `${entry.name}`, skipped: "out of time (the part's time budget)" });
      continue;
    }
    let model;
    let input;
    let logits;
    try {
      lib.manualSeed(0);
      model = lib.getModel(entry.name);
      model.loadStateDict(await lib.loadSafetensors(entry.weights));
      const reference = await lib.loadSafetensors(entry.reference);
      input = reference.input;
      logits = reference.logits.data;
    } catch (error) {
      results.push('checks', { ...base, name: `${entry.name} load`, passed: false, message: `loading the torchvision weights failed: ${describeError(error)}` });
      console.log(`parity: FAIL ${entry.name}: loading failed: ${describeError(error)}`);
      continue;
    }
    for (const run of runs) {
      const record = { ...base, name: `${entry.name} ${run.device} ${run.precision}`, device: run.device, precision: run.precision, tolerance: toleranceOf(run.precision) };
      if (!deadline.allows(2)) {
        results.push('checks', { ...record, skipped: "out of time (the part's time budget)" });
        continue;
      }
      try {
        place(model, run.device, run.precision);
        const start = performance.now();
        const output = await model.forward(input);
        const firstMs = performance.now() - start;
        const error = relativeL2(output.data, logits);
        const outcome = { error, maxRelative: maxRelativeError(output.data, logits), passed: error <= record.tolerance, firstMs };
        results.push('checks', { ...record, ...outcome, metric: "relative L2 of the logits vs PyTorch's FP32 (TF32 off)" });
        console.log(`parity: ${outcome.passed ? 'ok  ' : 'FAIL'} ${record.name}: ${error.toExponential(2)} (≤ ${record.tolerance})`);
      } catch (error) {
        results.push('checks', { ...record, passed: false, message: describeError(error) });
        console.log(`parity: FAIL ${record.name}: ${describeError(error)}`);
      }
    }
    try {
      place(model, 'cpu', 'float32'); // lets the GPU copies go with the model
    } catch {
      // already recorded above
    }
  }
}
