/**
 * The infer route's dispatch, metrics and shared-memory leases on an HTTP thread: each parsed request
 * travels to the main thread as an `infer` message (its tensor a view on this thread's arena, shared, not
 * copied), the main thread runs it through {@link localDispatch} and answers `computed` or `failed`, then
 * `released` once its batch no longer reads the input. A client that goes away sends `cancel`. The counts
 * of every request go to the main thread's metrics, which count each request once. A request that names
 * shared memory is the main thread's to answer (the regions are mapped there): the leases say so by
 * throwing {@link MainThreadRequired}.
 * @module
 */
import type { ComputeOptions, ComputeRequest, Computed, InferDispatch, RequestMetrics } from './infer-dispatch.js';
import { MainThreadRequired } from './infer-dispatch.js';
import type { FailureReason } from './http-error.js';
import type { RequestTimes } from './model-statistics.js';
import { modelLoading, type ModelSlot } from './registry.js';
import { SharedMemoryLeases } from './shared-memory.js';
import { fromWireError, type FromHttpThread, type Outbox, type ThreadModel, type ToHttpThread } from './thread-messages.js';
import type { ModelSignature, ParsedInput } from './types.js';

/** A request sent to the main thread, until it has both settled and been released. */
interface PendingCompute {
  resolve: (computed: Computed) => void;
  reject: (error: Error) => void;
  onInputReleased: () => void;
  settled: boolean;
  released: boolean;
}

function modelKey(name: string, version: string): string {
  return `${name}\u0000${version}`;
}

/** The buffers of an input this thread may give away: JSON values encoded into a buffer of their own. */
function transferable(input: ParsedInput): ArrayBuffer[] {
  if (input.datatype === 'BYTES') return [];
  const { buffer, byteOffset, byteLength } = input.data;
  // Views on the arena (shared) travel as they are; Node's pooled small buffers must be copied.
  if (buffer instanceof SharedArrayBuffer || byteOffset !== 0 || byteLength !== buffer.byteLength || byteLength < 4096) return [];
  return [buffer as ArrayBuffer];
}

/** Leases that hand every request naming shared memory to the main thread. */
class MainThreadLeases extends SharedMemoryLeases {
  constructor() {
    super(null);
  }

  override requireEnabled(): void {
    throw new MainThreadRequired();
  }

  override view(): Uint8Array {
    throw new MainThreadRequired();
  }
}

/** An HTTP thread's end of the dispatch; see the module's notes. */
export class RemoteDispatch implements InferDispatch, RequestMetrics {
  readonly #outbox: Outbox<FromHttpThread>;
  readonly #signatures = new Map<string, ModelSignature>();
  readonly #pending = new Map<number, PendingCompute>();
  #nextId = 1;

  constructor(outbox: Outbox<FromHttpThread>) {
    this.#outbox = outbox;
  }

  /** The leases of one request on this thread. */
  leases(): SharedMemoryLeases {
    return new MainThreadLeases();
  }

  signature(slot: ModelSlot): ModelSignature {
    const signature = this.#signatures.get(modelKey(slot.options.name, slot.options.version));
    if (signature === undefined) throw modelLoading(slot.options);
    return signature;
  }

  compute(slot: ModelSlot, request: ComputeRequest, { signal, onInputReleased }: ComputeOptions): Promise<Computed> {
    return new Promise<Computed>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject, onInputReleased, settled: false, released: false });
      const { name, version } = slot.options;
      this.#outbox.send({ type: 'infer', id, model: name, version, request }, transferable(request.input));
      const cancel = (): void => this.#outbox.send({ type: 'cancel', id });
      if (signal.aborted) cancel();
      else signal.addEventListener('abort', cancel, { once: true });
    });
  }

  requestSucceeded(model: string, version: string, times: RequestTimes): void {
    this.#outbox.send({ type: 'succeeded', model, version, times });
  }

  requestFailed(model: string, version: string, reason: FailureReason, requestMicroseconds: number): void {
    this.#outbox.send({ type: 'requestFailed', model, version, reason, requestMicroseconds });
  }

  /** Handles the main thread's messages about models and computes; false for any other message. */
  receive(message: ToHttpThread): boolean {
    switch (message.type) {
      case 'models':
        this.#signatures.clear();
        for (const model of message.models) this.#updateModel(model);
        return true;
      case 'computed': {
        const { outputs, queueMicroseconds, computeMicroseconds, prepareMicroseconds } = message;
        this.#settle(message.id, (pending) => pending.resolve({ outputs, queueMicroseconds, computeMicroseconds, prepareMicroseconds }));
        return true;
      }
      case 'failed':
        this.#settle(message.id, (pending) => pending.reject(fromWireError(message.error)));
        return true;
      case 'released': {
        const pending = this.#pending.get(message.id);
        if (pending === undefined || pending.released) return true;
        pending.released = true;
        if (pending.settled) this.#pending.delete(message.id);
        pending.onInputReleased();
        return true;
      }
      default:
        return false;
    }
  }

  /** Requests sent and not yet both settled and released. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  #updateModel(model: ThreadModel): void {
    if (model.signature !== null) this.#signatures.set(modelKey(model.name, model.version), model.signature);
  }

  #settle(id: number, settle: (pending: PendingCompute) => void): void {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.settled) return;
    pending.settled = true;
    if (pending.released) this.#pending.delete(id);
    settle(pending);
  }
}
