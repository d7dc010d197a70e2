/**
 * FairQueue (lib/vision/fair-queue.ts), the ImagePipeline's sharing of its threads between clients: the exact order
 * in which jobs start, driven step by step (no timers), against sequences worked out by hand from the rule (fewest
 * running first; then clients not yet served, in order of arrival; then the one served longest ago), and a seeded
 * random run checked against the rule itself at every step.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../lib/vision/fair-queue.js';

/** Starts jobs until the queue says none can start; their names. */
function startAll(queue: FairQueue<string>): string[] {
  const started: string[] = [];
  for (let next = queue.next(); next !== undefined; next = queue.next()) started.push(next.job);
  return started;
}

/** Pushes `count` jobs named `<client><n>` (from 1) for `client`. */
function pushJobs(queue: FairQueue<string>, client: string, count: number): void {
  for (let n = 1; n <= count; n++) queue.push(client, `${client}${n}`);
}

/** With one slot: starts a job, ends it, and so on until nothing waits; the order the jobs ran in. */
function runOneByOne(queue: FairQueue<string>): string[] {
  const order: string[] = [];
  for (let next = queue.next(); next !== undefined; next = queue.next()) {
    order.push(next.job);
    queue.done(next.client);
  }
  return order;
}

describe('FairQueue', () => {
  it('gives a lone client every slot: no slot idles while a job waits', () => {
    const queue = new FairQueue<string>(2);
    pushJobs(queue, 'a', 5);
    expect(startAll(queue)).toEqual(['a1', 'a2']);
    expect(queue.of('a')).toEqual({ running: 2, waiting: 3 });
    queue.done('a');
    expect(startAll(queue)).toEqual(['a3']);
    expect(queue.running).toBe(2);
    expect(queue.waiting).toBe(2);
  });

  it("gives the next free slot to a newcomer, not to the client holding every slot", () => {
    const queue = new FairQueue<string>(2);
    pushJobs(queue, 'hog', 6);
    expect(startAll(queue)).toEqual(['hog1', 'hog2']);
    queue.push('b', 'b1');
    expect(queue.next()).toBeUndefined(); // every slot is taken: b waits for one running image, not for the hog's queue
    queue.done('hog');
    expect(startAll(queue)).toEqual(['b1']);
    queue.done('hog');
    expect(startAll(queue)).toEqual(['hog3']);
    // b is done and goes; the hog then has the slots to itself again.
    queue.done('b');
    expect(startAll(queue)).toEqual(['hog4']);
    expect(queue.clients).toBe(1);
  });

  it('prefers the client with the fewest jobs running', () => {
    const queue = new FairQueue<string>(4);
    pushJobs(queue, 'a', 4);
    expect(startAll(queue)).toEqual(['a1', 'a2', 'a3', 'a4']);
    queue.push('a', 'a5');
    queue.push('b', 'b1');
    queue.push('b', 'b2');
    queue.push('c', 'c1');
    queue.done('a');
    queue.done('a'); // a: 2 running, b and c none
    expect(startAll(queue)).toEqual(['b1', 'c1']);
    queue.done('a'); // a: 1 running, b 1, c 1; a served longest ago
    expect(startAll(queue)).toEqual(['a5']);
    queue.done('c'); // c: nothing left, forgotten; b: 1 running, a: 1 running, only b waits
    expect(startAll(queue)).toEqual(['b2']);
    expect(queue.clients).toBe(2);
  });

  it('serves clients with equal jobs running in turn (round-robin), newcomers first in order of arrival', () => {
    const queue = new FairQueue<string>(1);
    pushJobs(queue, 'a', 3);
    pushJobs(queue, 'b', 3);
    pushJobs(queue, 'c', 2);
    expect(runOneByOne(queue)).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3']);

    // a was served before c and b arrived (c first): both go before a's next job.
    pushJobs(queue, 'a', 2);
    const first = queue.next()!;
    expect(first.job).toBe('a1');
    queue.push('c', 'c1');
    queue.push('b', 'b1');
    queue.done(first.client);
    expect(runOneByOne(queue)).toEqual(['c1', 'b1', 'a2']);
    expect(queue.clients).toBe(0);
  });

  it('tells clients apart by identity: two equal-looking objects are two clients', () => {
    const queue = new FairQueue<string>(1);
    const one = { socket: 1 };
    const other = { socket: 1 };
    queue.push(one, 'x1');
    queue.push(one, 'x2');
    queue.push(other, 'y1');
    expect(runOneByOne(queue)).toEqual(['x1', 'y1', 'x2']);
  });

  it('removes a waiting job (an aborted call) and leaves running ones alone', () => {
    const queue = new FairQueue<string>(1);
    pushJobs(queue, 'a', 3);
    const running = queue.next()!;
    expect(queue.remove('a', 'a1')).toBe(false); // running: only its thread can stop it
    expect(queue.remove('a', 'a3')).toBe(true);
    expect(queue.remove('a', 'a3')).toBe(false);
    expect(queue.remove('nobody', 'a2')).toBe(false);
    expect(queue.of('a')).toEqual({ running: 1, waiting: 1 });
    expect(queue.remove('a', 'a2')).toBe(true);
    expect(queue.waiting).toBe(0);
    expect(queue.clients).toBe(1); // a1 still runs
    queue.done(running.client);
    expect(queue.clients).toBe(0);
    expect(queue.next()).toBeUndefined();
  });

  it('drain() hands back every waiting job and lets the running ones finish', () => {
    const queue = new FairQueue<string>(2);
    pushJobs(queue, 'a', 3);
    pushJobs(queue, 'b', 2);
    expect(startAll(queue)).toEqual(['a1', 'b1']);
    expect(queue.drain().sort()).toEqual(['a2', 'a3', 'b2']);
    expect(queue).toMatchObject({ running: 2, waiting: 0, clients: 2 });
    queue.done('a');
    queue.done('b');
    expect(queue).toMatchObject({ running: 0, waiting: 0, clients: 0 });
  });

  it('refuses a done() with nothing running, and fewer than one slot', () => {
    const queue = new FairQueue<string>(1);
    expect(() => queue.done('a')).toThrow('FairQueue.done for a client with no job running');
    queue.push('a', 'a1');
    expect(() => queue.done('a')).toThrow('no job running');
    expect(() => new FairQueue(0)).toThrow(RangeError);
    expect(() => new FairQueue(1.5)).toThrow(RangeError);
  });

  it('keeps the rule at every step of a seeded random run', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const slots = 3;
    const queue = new FairQueue<string>(slots);
    // The test's own model of the queue: per client, its waiting jobs, jobs running, whether served, when last served.
    const model = new Map<string, { waiting: string[]; running: number; served: boolean; since: number }>();
    let turn = 0;
    let started = 0;
    for (let step = 0; step < 5000; step++) {
      const action = random(3);
      const client = `c${random(5)}`;
      if (action === 0) {
        const job = `${client}-${step}`;
        if (!model.has(client)) model.set(client, { waiting: [], running: 0, served: false, since: turn++ });
        model.get(client)!.waiting.push(job);
        queue.push(client, job);
      } else if (action === 1) {
        const running = [...model.entries()].filter(([, m]) => m.running > 0);
        if (running.length === 0) continue;
        const [name, m] = running[random(running.length)]!;
        m.running--;
        if (m.running === 0 && m.waiting.length === 0) model.delete(name);
        queue.done(name);
      }
      // Start what can start; each pick must be the model's best waiting client.
      for (let next = queue.next(); next !== undefined; next = queue.next()) {
        const waiting = [...model.entries()].filter(([, m]) => m.waiting.length > 0);
        const best = waiting.reduce((a, b) => {
          const [x, y] = [a[1], b[1]];
          if (x.running !== y.running) return x.running < y.running ? a : b;
          if (x.served !== y.served) return x.served ? b : a;
          return x.since < y.since ? a : b;
        });
        expect(next.client).toBe(best[0]);
        expect(next.job).toBe(best[1].waiting.shift());
        best[1].running++;
        best[1].served = true;
        best[1].since = turn++;
        started++;
      }
      const running = [...model.values()].reduce((sum, m) => sum + m.running, 0);
      const waiting = [...model.values()].reduce((sum, m) => sum + m.waiting.length, 0);
      expect(queue.running).toBe(running);
      expect(queue.waiting).toBe(waiting);
      expect(running).toBeLessThanOrEqual(slots);
      if (waiting > 0) expect(running).toBe(slots); // no slot idles while a job waits
      expect(queue.clients).toBe(model.size);
    }
    expect(started).toBeGreaterThan(1000);
  });
});
