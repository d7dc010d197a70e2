/**
 * Requests whose response has not closed yet, so that a graceful `close()` can wait for them.
 * @module
 */
import type { ServerResponse } from 'node:http';

/** A count of open responses, with a wait for zero. */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  /** Counts `response` until it closes (sent, or abandoned by the client: 'close' follows either). */
  track(response: ServerResponse): void {
    this.#count++;
    response.once('close', () => {
      this.#count--;
      if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Responses not closed yet. */
  get count(): number {
    return this.#count;
  }

  /** Resolves when no response is open. */
  idle(): Promise<void> {
    return this.#count === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}
