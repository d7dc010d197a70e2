// Concurrent runs on one executable: each takes its own execution context (stream, buffers, staging), so
// runs in flight together must not see each other's data. resnet18 at 64×64, eight runs of distinct
// inputs started at once, each against the CPU backend's output for its own input.
import { mulberry32, uniformArray } from './random.mjs';
import { describeError } from './results.mjs';
import { compareOutputs } from './compare.mjs';
import { toleranceOf } from './tolerances.mjs';
import { randomizeBatchNorms } from './variants.mjs';

const RUNS = 8;
const BATCH = 2;
const SIZE = 64;

/**
 * @param {any} lib @param {import('./subject.mjs').Subject} subject
 * @param {import('./results.mjs').ResultFile} results @param {import('./results.mjs').Deadline} deadline
 */
export async function checkConcurrentRuns(lib, subject, results, deadline) {
  const record = { group: 'op', name: `${RUNS} concurrent runs of one executable (resnet18 ${SIZE}×${SIZE}, batch ${BATCH})`, precision: 'float32', batch: BATCH, tolerance: toleranceOf('float32') };
  if (!deadline.allows(10)) {
    results.push('checks', { ...record, skipped: "out of time (the part's time budget)" });
    return;
  }
  let prepared;
  try {
    lib.manualSeed(77);
    const model = lib.getModel('resnet18');
    randomizeBatchNorms(model, 78);
    prepared = lib.prepareGraph(lib.lower(lib.Tracer.trace(model, [3, SIZE, SIZE])));
    const random = mulberry32(79);
    const inputs = Array.from({ length: RUNS }, () => uniformArray(BATCH * 3 * SIZE * SIZE, random));
    const cpu = await lib.compileGraph(prepared, { backend: 'cpu', batch: BATCH });
    const references = [];
    try {
      for (const input of inputs) references.push(await cpu.run(input));
    } finally {
      cpu.dispose();
    }
    const executable = await lib.compileGraph(prepared, { backend: subject.backend, batch: BATCH, precision: 'float32', device: subject.ordinal });
    let worst = 0;
    try {
      const outputs = await Promise.all(inputs.map((input) => executable.run(input)));
      for (const [i, got] of outputs.entries()) {
        const { error } = compareOutputs(got, references[i]);
        worst = Number.isNaN(error) || Number.isNaN(worst) ? NaN : Math.max(worst, error);
      }
    } finally {
      executable.dispose();
    }
    const passed = worst <= record.tolerance;
    results.push('checks', { ...record, error: worst, passed, metric: 'worst relative L2 over the runs vs our CPU backend' });
    console.log(`ops: ${passed ? 'ok  ' : 'FAIL'} ${record.name}: ${worst.toExponential(2)} (≤ ${record.tolerance})`);
  } catch (error) {
    results.push('checks', { ...record, passed: false, message: describeError(error) });
    console.log(`ops: FAIL ${record.name}: ${describeError(error)}`);
  } finally {
    prepared?.dispose();
  }
}
