/**
 * The CPU backend's compute lanes (native/src/cpu/compute_lanes.h): jobs start in submission order, each
 * taking its executable's `threads` of the CPUs, so runs of 1-thread executables go side by side on 2 CPUs
 * while runs with every thread go one at a time. Which runs overlapped is read from the execution contexts
 * an executable had to make (one more for each run that started while all were busy), not from clocks;
 * the side-by-side case only needs the second lane to start within the first run (about 100 ms here).
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { convStack, wave } from '../helpers/graph-builders.js';
import { compileGraph, prepareGraph } from '../../lib/runtime/engine.js';
import { maxRelativeError } from '../helpers/helpers.js';

const cpus = availableParallelism();
const sideBySide = cpus >= 2;
const skipped = sideBySide ? '' : ` (skipped: this process may use ${cpus} CPU; side by side needs 2)`;

const graph = convStack(8, 32, 56);
const inputs = [0.001, 0.0023, 0.0051].map((f) => wave(2 * 3 * 56 * 56, f));

describe('compute lanes', () => {
  it(`run two 1-thread runs side by side, each on its own context, with the results of runs one at a time${skipped}`, async () => {
    if (!sideBySide) return;
    using executable = await compileGraph(graph, { backend: 'cpu', batch: 4, threads: 1 });
    expect(executable.contextCount).toBe(1);
    const batch4 = [wave(4 * 3 * 56 * 56, 0.0013), wave(4 * 3 * 56 * 56, 0.0029)];
    const sequential = [];
    for (const input of batch4) sequential.push(await executable.run(input));
    expect(executable.contextCount).toBe(1);
    const together = await Promise.all(batch4.map((input) => executable.run(input)));
    expect(executable.contextCount).toBe(2);
    expect(together).toEqual(sequential);
  });

  it('run runs with every thread one at a time: one context however many are queued', async () => {
    using executable = await compileGraph(graph, { backend: 'cpu', batch: 2 });
    const together = await Promise.all(inputs.map((input) => executable.run(input)));
    expect(executable.contextCount).toBe(1);
    const alone = await executable.run(inputs[2]!);
    expect(together[2]).toEqual(alone);
  });

  it(`start jobs in submission order: a 1-thread run queued behind a run with every thread does not pass it${skipped}`, async () => {
    if (!sideBySide) return;
    using narrow = await compileGraph(graph, { backend: 'cpu', batch: 2, threads: 1 });
    using wide = await compileGraph(graph, { backend: 'cpu', batch: 2 });
    // narrow (1 CPU) starts; wide (all CPUs) waits for it; the second narrow run waits behind wide, so the
    // two narrow runs never overlap, though a CPU is free beside the first.
    const [first, , third] = await Promise.all([narrow.run(inputs[0]!), wide.run(inputs[1]!), narrow.run(inputs[2]!)]);
    expect(narrow.contextCount).toBe(1);
    expect(wide.contextCount).toBe(1);
    expect(first).toEqual(await narrow.run(inputs[0]!));
    expect(third).toEqual(await narrow.run(inputs[2]!));
  });

  it('queue compiles behind a run in flight: 1-thread executables compiled at once from one prepared graph share its weights and agree with a plain compile', async () => {
    using prepared = prepareGraph(graph);
    using reference = await compileGraph(graph, { backend: 'cpu', batch: 1 });
    using busy = await compileGraph(graph, { backend: 'cpu', batch: 2, threads: 1 });
    const running = busy.run(inputs[0]!); // a run in flight while the compiles queue
    const executables = await Promise.all([1, 2, 3, 4].map((batch) => compileGraph(prepared, { backend: 'cpu', batch, threads: 1 })));
    try {
      await running;
      expect(executables.some((e) => e.sharedWeightBytes > 0)).toBe(true);
      // Sample 0 of every batch is the reference's input; the others differ.
      const sample = 3 * 56 * 56;
      const samples = wave(4 * sample, 0.0037);
      const [expected] = await reference.run(samples.subarray(0, sample));
      const results = await Promise.all(executables.map((e, i) => e.run(samples.subarray(0, (i + 1) * sample))));
      for (const [first] of results) expect(maxRelativeError(first!.subarray(0, expected!.length), expected!)).toBeLessThanOrEqual(1e-5);
    } finally {
      for (const executable of executables) executable.dispose();
    }
  });

  it('report no contexts once disposed', async () => {
    const executable = await compileGraph(graph, { backend: 'cpu', batch: 1 });
    executable.dispose();
    expect(executable.contextCount).toBe(0);
  });
});
