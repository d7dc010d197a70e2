/**
 * What the main thread and the HTTP threads say to each other (see http-threads.ts for the threading
 * model), and the {@link Outbox} that carries it: the messages one thread sends another during one turn
 * of its event loop travel as one `postMessage`, so a busy server pays one wake-up per turn, not one per
 * request (a request takes four messages: infer, released, computed, and its metrics).
 *
 * Tensors never travel as copies: a body's bytes are views on the HTTP thread's arena, a
 * SharedArrayBuffer the main thread already knows; outputs go back in the transfer list.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import { HttpError, type FailureReason } from './http-error.js';
import type { ComputeRequest } from './infer-dispatch.js';
import type { RequestTimes } from './model-statistics.js';
import type { ModelSignature, ResolvedServerOptions } from './types.js';

/** A model as an HTTP thread knows it: name, version, and its signature once it has loaded (null before). */
export interface ThreadModel {
  name: string;
  version: string;
  signature: ModelSignature | null;
}

/** An error on its way between threads: an HttpError's parts, or (status null) any other error's message. */
export type WireError =
  | { status: number; message: string; headers: Record<string, string>; reason: FailureReason }
  | { status: null; message: string };

/** `error` as it crosses threads. */
export function toWireError(error: unknown): WireError {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: { ...error.headers }, reason: error.reason };
  return { status: null, message: error instanceof Error ? error.message : String(error) };
}

/** The error a {@link WireError} stands for: the same HttpError, or an Error with the same message (a 500). */
export function fromWireError(wire: WireError): Error {
  if (wire.status === null) return new Error(wire.message);
  return new HttpError(wire.status, wire.message, { headers: wire.headers, reason: wire.reason });
}

/** Headers as Node hands them over. */
export type WireHeaders = Record<string, string | string[] | undefined>;

/** The main thread's answer to a forwarded request. */
export interface ForwardedResponse {
  status: number;
  headers: WireHeaders;
  body: Uint8Array;
}

/** Main thread → HTTP thread. */
export type ToHttpThread =
  /** Every model, each time one changes (they load after the threads start). */
  | { type: 'models'; models: ThreadModel[] }
  | { type: 'computed'; id: number; outputs: Float32Array[]; queueMicroseconds: number; computeMicroseconds: number; prepareMicroseconds: number }
  | { type: 'failed'; id: number; error: WireError }
  /** Nothing reads the input of request `id` any more: its body may be reused. */
  | { type: 'released'; id: number }
  | { type: 'forwarded'; id: number; response: ForwardedResponse }
  | { type: 'forwardFailed'; id: number; error: WireError }
  /**
   * The server is closing: stop accepting, 503 to new inferences, close each connection after its last
   * response (connection-drain.ts), then say 'drained' once no response is open.
   */
  | { type: 'closing' }
  /**
   * Wait up to `graceMs` for the connections to close (0: not at all), destroy what is left, then close and
   * say 'stopped'.
   */
  | { type: 'stop'; graceMs: number };

/** HTTP thread → main thread. */
export type FromHttpThread =
  | { type: 'listening' }
  /** A connection was accepted (counted per thread in the metrics). */
  | { type: 'connection' }
  | { type: 'infer'; id: number; model: string; version: string; request: ComputeRequest }
  /** The client of request `id` went away: take it out of the queue. */
  | { type: 'cancel'; id: number }
  | { type: 'forward'; id: number; method: string; url: string; headers: WireHeaders; body: Uint8Array | null }
  | { type: 'cancelForward'; id: number }
  | { type: 'succeeded'; model: string; version: string; times: RequestTimes }
  | { type: 'requestFailed'; model: string; version: string; reason: FailureReason; requestMicroseconds: number }
  | { type: 'drained' }
  | { type: 'stopped' };

/** What an HTTP thread starts with (`workerData`). */
export interface HttpThreadData {
  /** 1-based; the main thread is 0. */
  index: number;
  /** The listening socket to accept on (SO_REUSEPORT, the server's port). */
  fd: number;
  /** The numeric address it is bound to. */
  host: string;
  /** Where bodies are read into (registered by the main thread); null without one. */
  arena: SharedArrayBuffer | null;
  options: ResolvedServerOptions;
  /** Marks forwarded requests admitted before closing began (forwardedAdmissionHeader). */
  forwardSecret: string;
  /** How many HTTP threads accept connections: each takes its share of `maxConnections`. */
  threads: number;
}

/** The part of a port an outbox posts on (a MessagePort, a Worker, `parentPort`). */
export interface PostTarget {
  postMessage(value: unknown, transfer?: readonly (ArrayBuffer | MessagePort)[]): void;
}

/** Messages to one thread, posted together once per turn of the event loop; see the module's notes. */
export class Outbox<M> {
  readonly #target: PostTarget;
  #pending: M[] = [];
  #transfer: ArrayBuffer[] = [];
  #scheduled = false;
  #closed = false;

  constructor(target: PostTarget) {
    this.#target = target;
  }

  /** Queues `message` (with the buffers it gives away) for the end of this turn. */
  send(message: M, transfer: readonly ArrayBuffer[] = []): void {
    if (this.#closed) return;
    this.#pending.push(message);
    this.#transfer.push(...transfer);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Posts what is queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#closed) return;
    const messages = this.#pending;
    const transfer = this.#transfer;
    this.#pending = [];
    this.#transfer = [];
    this.#target.postMessage(messages, transfer);
  }

  /** Drops what is queued and sends nothing more (the other thread is gone). */
  close(): void {
    this.#closed = true;
    this.#pending = [];
    this.#transfer = [];
  }
}
