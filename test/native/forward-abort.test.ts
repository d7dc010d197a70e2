/**
 * `forward(x, { signal })` as `fetch`: an aborted signal rejects with its reason, at once; the native work
 * it cannot stop finishes in the background and its result is dropped, and the model stays correct. Timing
 * is shown by the order of events (the forward's rejection before the native run's completion), not by
 * the clock: the native run of a forward is observed through `Executable.prototype.run`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Executable, Tensor, lastForwardStats, manualSeed, resnet18 } from '../../lib/index.js';
import { uniform } from '../helpers/helpers.js';

const originalRun = Executable.prototype.run;

/** Records every native run: a 'run started' event, then 'run settled' when its promise settles. */
function watchRuns(events: string[], onStart: () => void = () => undefined): Promise<unknown>[] {
  const runs: Promise<unknown>[] = [];
  vi.spyOn(Executable.prototype, 'run').mockImplementation(function (this: Executable, input) {
    events.push('run started');
    const run = originalRun.call(this, input);
    runs.push(run.then(() => events.push('run settled'), () => events.push('run failed')));
    onStart();
    return run;
  });
  return runs;
}

async function settle(promise: Promise<unknown>, events: string[], name: string): Promise<unknown> {
  try {
    await promise;
    events.push(`${name} resolved`);
    return undefined;
  } catch (error) {
    events.push(`${name} rejected`);
    return error;
  }
}

afterEach(() => vi.restoreAllMocks());

describe('forward with an AbortSignal', () => {
  manualSeed(21);
  const x = Tensor.from(uniform(2 * 3 * 32 * 32, 7), [2, 3, 32, 32]);

  it('already aborted: rejects with the signal’s reason (an AbortError) and compiles and runs nothing', async () => {
    const model = resnet18({ numClasses: 4 });
    const events: string[] = [];
    watchRuns(events);
    const controller = new AbortController();
    controller.abort();
    const error = await settle(model.forward(x, { signal: controller.signal }), events, 'forward');
    expect(error).toBe(controller.signal.reason);
    expect((error as DOMException).name).toBe('AbortError');
    const custom = new Error('user gave up');
    const error2 = await settle(model.forwardNodes(x, ['layer1'], { signal: AbortSignal.abort(custom) }), events, 'forwardNodes');
    expect(error2).toBe(custom);
    const error3 = await settle(model.forwardFeatures(x, { signal: AbortSignal.abort(custom) }), events, 'forwardFeatures');
    expect(error3).toBe(custom);
    expect(events).toEqual(['forward rejected', 'forwardNodes rejected', 'forwardFeatures rejected']);
    expect(lastForwardStats(model)).toBeUndefined();
    // Nothing was compiled: the next forward compiles.
    await model.forward(x);
    expect(lastForwardStats(model)!.compiled).toBe(true);
  });

  it('aborted while compiling: rejects before the compile ends, never runs; the compile is kept', async () => {
    const model = resnet18({ numClasses: 4 });
    const events: string[] = [];
    watchRuns(events);
    const controller = new AbortController();
    const aborted = settle(model.forward(x, { signal: controller.signal }), events, 'aborted forward');
    // A second forward of the same shape shares the compile the first one started; it resolves after it.
    const plain = settle(model.forward(x), events, 'plain forward');
    controller.abort();
    const error = await aborted;
    await plain;
    expect(error).toBe(controller.signal.reason);
    expect(events).toEqual(['aborted forward rejected', 'run started', 'run settled', 'plain forward resolved']);
    expect(lastForwardStats(model)!.compiled).toBe(false); // the plain forward found the aborted one's compile
  });

  it('aborted while the native run is in flight: rejects at once, the run finishes in the background, its result is dropped', async () => {
    const model = resnet18({ numClasses: 4 });
    const pinned = model.allocateInput(2, { size: 32 });
    (pinned.data as Float32Array).set(x.data as Float32Array);
    const reference = await model.forward(pinned);
    const statsBefore = lastForwardStats(model);

    const events: string[] = [];
    const controller = new AbortController();
    // Abort as soon as the native run has started (the run reads `pinned` in place while in flight).
    const runs = watchRuns(events, () => controller.abort());
    const error = await settle(model.forward(pinned, { signal: controller.signal }), events, 'forward');
    expect(error).toBe(controller.signal.reason);
    expect(events).toEqual(['run started', 'forward rejected']);
    await Promise.all(runs);
    expect(events).toEqual(['run started', 'forward rejected', 'run settled']);
    // The dropped run did not count as the last forward, and the model (and its buffer) still give the same answer.
    expect(lastForwardStats(model)).toBe(statsBefore);
    vi.restoreAllMocks();
    const again = await model.forward(pinned);
    expect(Array.from(again.data as Float32Array)).toEqual(Array.from(reference.data as Float32Array));
  });

  it('a signal that never aborts changes nothing, and its listener is removed once the forward settles', async () => {
    const model = resnet18({ numClasses: 4 });
    const controller = new AbortController();
    const added = vi.spyOn(controller.signal, 'addEventListener');
    const removed = vi.spyOn(controller.signal, 'removeEventListener');
    const withSignal = await model.forward(x, { signal: controller.signal });
    const without = await model.forward(x);
    expect(Array.from(withSignal.data as Float32Array)).toEqual(Array.from(without.data as Float32Array));
    expect(added.mock.calls.length).toBeGreaterThan(0);
    expect(removed.mock.calls.length).toBe(added.mock.calls.length);
  });
});
