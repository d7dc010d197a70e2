/**
 * One target's fuzzing loop in a worker thread. Before each parse it copies the input into shared
 * memory and bumps a counter, so the main thread can tell a hang (the counter stops) and still
 * read the input that caused it. Findings are posted to the main thread (the first few of each kind).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadDistLib } from './dist-lib.mjs';
import { loadCorpus, fuzzTarget } from './engine.mjs';
import { makeTargets } from './targets.mjs';

const { name, corpusDir, iterations, seed, limits, shared, maxSavedPerSignature } = workerData;
const header = new Int32Array(shared, 0, 2); // [inputs started, length of the current input]
const current = new Uint8Array(shared, 8);
const lib = await loadDistLib();
const target = makeTargets(lib)[name];
const saved = new Map();
const progressEvery = 50_000;

const stats = fuzzTarget(target, loadCorpus(corpusDir), lib, {
  iterations,
  seed,
  limits,
  onInput(input, index) {
    current.set(input);
    Atomics.store(header, 1, input.length);
    Atomics.add(header, 0, 1);
    if (index > 0 && index % progressEvery === 0) parentPort.postMessage({ type: 'progress', index });
  },
  onFinding(verdict, input, index) {
    const count = saved.get(verdict.signature) ?? 0;
    saved.set(verdict.signature, count + 1);
    if (count >= maxSavedPerSignature) return;
    const { error } = verdict;
    parentPort.postMessage({
      type: 'finding',
      kind: verdict.kind,
      signature: verdict.signature,
      index,
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      stack: error instanceof Error ? error.stack : undefined,
      input,
    });
  },
});
parentPort.postMessage({ type: 'done', stats });
