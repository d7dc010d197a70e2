#!/usr/bin/env node
// The Node part of the GPU check: one subcommand per part, each run by scripts/gpu-check.sh in its own
// process with a time limit. Every part writes WORK/<part>.json as it goes; `summary` gathers them.
//
//   node check.mjs env     --work DIR --label TEXT
//   node check.mjs ops     --work DIR --budget SECONDS
//   node check.mjs parity  --work DIR --budget SECONDS
//   node check.mjs bench   --work DIR --budget SECONDS
//   node check.mjs int8    --work DIR --budget SECONDS   (resnet50 quantized at precision int8, beside bench's FP16)
//   node check.mjs serve   --work DIR --budget SECONDS   (resnet serve on the GPU under the load generator)
//   node check.mjs summary --work DIR --out OUTDIR      (exit 0: all checks passed; 10: a check failed)
import { parseArgs } from 'node:util';
import { Deadline, describeError } from './results.mjs';
import { loadLibrary } from './library.mjs';
import { subjectOf } from './subject.mjs';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { work: { type: 'string' }, out: { type: 'string' }, budget: { type: 'string' }, label: { type: 'string' } },
});
const [command] = positionals;
const work = values.work;
if (!command || !work) {
  console.error('usage: node check.mjs env|ops|parity|bench|int8|serve|summary --work DIR [--budget SECONDS] [--label TEXT] [--out OUTDIR]');
  process.exit(2);
}
const deadline = new Deadline(Number(values.budget ?? 60));

/** The library and the subject, or exit 1 with the import error (the part's log says it). */
async function library() {
  const { lib, error } = await loadLibrary();
  if (!lib) {
    console.error(error);
    process.exit(1);
  }
  try {
    lib.backendInfo(); // loads the addon: a part cannot run without it, so it fails once, here
  } catch (e) {
    console.error(`cannot load the native addon: ${describeError(e)}`);
    process.exit(1);
  }
  return { lib, subject: subjectOf(lib) };
}

switch (command) {
  case 'env': {
    const { probeEnvironment } = await import('./env.mjs');
    await probeEnvironment(work, values.label ?? 'as started');
    break;
  }
  case 'ops': {
    const { runOps } = await import('./ops.mjs');
    const { lib, subject } = await library();
    await runOps(lib, subject, work, deadline);
    break;
  }
  case 'parity': {
    const { runParity } = await import('./parity.mjs');
    const { lib, subject } = await library();
    await runParity(lib, subject, work, deadline);
    break;
  }
  case 'bench': {
    const { runBench } = await import('./bench.mjs');
    const { lib, subject } = await library();
    await runBench(lib, subject, work, deadline);
    break;
  }
  case 'int8': {
    const { runInt8 } = await import('./int8.mjs');
    const { lib, subject } = await library();
    await runInt8(lib, subject, work, deadline);
    break;
  }
  case 'serve': {
    const { runServe } = await import('./serve.mjs');
    const { lib, subject } = await library();
    await runServe(lib, subject, work, deadline);
    break;
  }
  case 'summary': {
    const { writeSummary } = await import('./report.mjs');
    const ok = writeSummary(work, values.out ?? work);
    process.exitCode = ok ? 0 : 10;
    break;
  }
  default:
    console.error(`unknown part ${JSON.stringify(command)}`);
    process.exit(2);
}
