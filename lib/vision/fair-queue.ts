/**
 * Fair sharing of a few slots (an {@link ImagePipeline}'s threads) between clients: jobs wait in one queue per
 * client, and each slot that frees goes to the waiting client with the fewest jobs running; among equals, first to
 * a client not served yet (in order of arrival), then to the one served longest ago (round-robin). No slot idles
 * while a job waits, and a client with nothing running or waiting is forgotten (it comes back as a newcomer). So one client's hundred images cannot hold every thread while another's one image waits:
 * that image takes the next thread that frees, after at most one running image, whose cost the work budget
 * bounds (`budget.ts`).
 *
 * A plain data structure with no timers or promises: the owner pushes jobs, asks {@link FairQueue.next} which to
 * start, and says {@link FairQueue.done} when one ends, so the order is deterministic and tested as such.
 * @module
 * @internal
 */

/** One client's state. */
interface ClientQueue<J> {
  /** Its jobs not yet started, oldest first. */
  readonly waiting: J[];
  /** Its jobs started and not yet done. */
  running: number;
  /** Whether a job of it has started since it arrived. */
  served: boolean;
  /** The turn at which it was last served, or at which it arrived: lower goes first among equals. */
  since: number;
}

/** Whether client `a` goes before client `b` (both with jobs waiting). */
function before<J>(a: ClientQueue<J>, b: ClientQueue<J>): boolean {
  if (a.running !== b.running) return a.running < b.running;
  if (a.served !== b.served) return !a.served;
  return a.since < b.since;
}

/** Jobs of several clients sharing `slots` slots; see the module's notes. */
export class FairQueue<J> {
  /** Slots: jobs that may run at once. */
  readonly slots: number;
  readonly #clients = new Map<unknown, ClientQueue<J>>();
  #running = 0;
  #waiting = 0;
  #turn = 0;

  constructor(slots: number) {
    if (!Number.isSafeInteger(slots) || slots < 1) throw new RangeError(`FairQueue needs at least one slot, not ${slots}`);
    this.slots = slots;
  }

  /** Jobs running. */
  get running(): number {
    return this.#running;
  }

  /** Jobs waiting for a slot. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Clients with a job running or waiting. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Jobs of `client` running, and waiting. */
  of(client: unknown): { running: number; waiting: number } {
    const queue = this.#clients.get(client);
    return { running: queue?.running ?? 0, waiting: queue?.waiting.length ?? 0 };
  }

  /** Queues `job` for `client` (any value, compared with `===`), behind its other waiting jobs. */
  push(client: unknown, job: J): void {
    let queue = this.#clients.get(client);
    if (queue === undefined) {
      queue = { waiting: [], running: 0, served: false, since: this.#turn++ };
      this.#clients.set(client, queue);
    }
    queue.waiting.push(job);
    this.#waiting++;
  }

  /** Takes `job` of `client` out of the queue before it started; false when it is not waiting. */
  remove(client: unknown, job: J): boolean {
    const queue = this.#clients.get(client);
    const at = queue?.waiting.indexOf(job) ?? -1;
    if (queue === undefined || at < 0) return false;
    queue.waiting.splice(at, 1);
    this.#waiting--;
    this.#forgetIfIdle(client, queue);
    return true;
  }

  /**
   * The job to start now, counted as running until {@link done}, or undefined when every slot is taken or nothing
   * waits.
   */
  next(): { client: unknown; job: J } | undefined {
    if (this.#running >= this.slots || this.#waiting === 0) return undefined;
    let chosen: [unknown, ClientQueue<J>] | undefined;
    for (const entry of this.#clients) {
      if (entry[1].waiting.length > 0 && (chosen === undefined || before(entry[1], chosen[1]))) chosen = entry;
    }
    const [client, queue] = chosen!;
    const job = queue.waiting.shift()!;
    this.#waiting--;
    queue.running++;
    this.#running++;
    queue.served = true;
    queue.since = this.#turn++;
    return { client, job };
  }

  /** A job of `client` that {@link next} started has ended (done, failed or stopped). */
  done(client: unknown): void {
    const queue = this.#clients.get(client);
    if (queue === undefined || queue.running === 0) throw new Error('FairQueue.done for a client with no job running');
    queue.running--;
    this.#running--;
    this.#forgetIfIdle(client, queue);
  }

  /** Every waiting job, taken out of the queue (to reject them); running ones are left to finish. */
  drain(): J[] {
    const jobs: J[] = [];
    for (const [client, queue] of this.#clients) {
      jobs.push(...queue.waiting.splice(0));
      this.#forgetIfIdle(client, queue);
    }
    this.#waiting = 0;
    return jobs;
  }

  #forgetIfIdle(client: unknown, queue: ClientQueue<J>): void {
    if (queue.waiting.length === 0 && queue.running === 0) this.#clients.delete(client);
  }
}
