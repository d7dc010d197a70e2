/**
 * Cancelling a wait, as `fetch` does: an aborted signal rejects with its reason at once, while the work
 * waited on goes on (a compile other forwards share, a native run that cannot be stopped mid-way) and its
 * result, or its error, is dropped.
 * @module
 */

/**
 * `work`, or a rejection with `signal.reason` as soon as `signal` aborts, whichever comes first. `work`
 * is left to settle on its own; its late rejection is handled here so it never surfaces as unhandled.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** True when `error` is the reason `signal` aborted with: it goes to the caller as it is, not wrapped. */
export function isAbortReason(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted && error === signal.reason;
}
