/**
 * `ModelStreamInfer`: a bidirectional stream of inference requests, each answered on the response stream in
 * the order the requests came (a `ModelStreamInferResponse` with the response, or with the request's error in
 * `error_message`: one failed request does not end the stream). Requests of one stream are computed
 * concurrently, so they batch together like separate calls.
 *
 * Bounds: at most {@link streamWindow} requests of a stream are in flight; past that the stream stops reading
 * until the oldest is answered, and an answer waits for the client to read (HTTP/2 flow control) before the
 * next is written. So a client that sends without reading holds a bounded amount of server memory.
 *
 * The stream ends (status OK) once the client has half-closed it, or the server is closing, and every
 * request read so far has been answered; requests read after closing began are answered UNAVAILABLE's
 * message. Cancelling the call (or its deadline) takes its queued requests out of their queues.
 * @module
 * @internal
 */
import { once } from 'node:events';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ServerContext } from '../server-context.js';
import { modelInfer } from './infer.js';
import type { ModelInferRequest, ModelStreamInferResponse } from './messages.js';
import { grpcFailureOf, type GrpcCodeName } from './status.js';

/** Requests of one stream in flight at once. */
export const streamWindow = 16;

/** Where a stream reports a request that failed for a reason not the client's (a bug, the engine). */
export type InternalErrorLog = (error: unknown) => void;

/** One `ModelStreamInfer` call. */
export class InferStream {
  readonly #context: ServerContext;
  readonly #call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>;
  readonly #logInternal: InternalErrorLog;
  readonly #onFinished: (code: GrpcCodeName) => void;
  readonly #cancel = new AbortController();
  /** Resolves when the call is cancelled or has failed: a write waiting for room stops waiting then. */
  readonly #gone: Promise<void>;
  /** Requests read and not yet answered. */
  #inFlight = 0;
  /** Answers are written in request order: each waits for the one before. */
  #written: Promise<void> = Promise.resolve();
  #halfClosed = false;
  #closing = false;
  #finished = false;

  /** Starts reading `call`; `onFinished` is called once, with the status the call ended with. */
  constructor(
    context: ServerContext, call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>, logInternal: InternalErrorLog,
    onFinished: (code: GrpcCodeName) => void,
  ) {
    this.#context = context;
    this.#call = call;
    this.#logInternal = logInternal;
    this.#onFinished = onFinished;
    this.#gone = new Promise((resolve) => this.#cancel.signal.addEventListener('abort', () => resolve(), { once: true }));
    call.on('data', (request: ModelInferRequest) => this.#read(request));
    call.on('end', () => {
      this.#halfClosed = true;
      this.#endWhenAnswered();
    });
    call.on('cancelled', () => this.#finish('CANCELLED'));
    // grpc-js ends the call itself on a stream error (a message it cannot decode, or one over the size limit).
    call.on('error', () => this.#finish('CANCELLED'));
  }

  /** The server is closing: no more requests are taken, and the stream ends once those read are answered. */
  close(): void {
    this.#closing = true;
    this.#endWhenAnswered();
  }

  #read(request: ModelInferRequest): void {
    if (this.#finished) return;
    this.#inFlight++;
    if (this.#inFlight >= streamWindow) this.#call.pause();
    const answer = this.#answer(request);
    this.#written = this.#written.then(async () => {
      await this.#write(await answer);
      this.#inFlight--;
      if (this.#inFlight < streamWindow && this.#call.isPaused()) this.#call.resume();
      this.#endWhenAnswered();
    });
  }

  /** The stream's answer to one request; never rejects. */
  async #answer(request: ModelInferRequest): Promise<ModelStreamInferResponse> {
    try {
      const admitted = !this.#closing && !this.#context.state.closing;
      const response = await modelInfer(this.#context, request, { signal: this.#cancel.signal, admitted });
      return { error_message: '', infer_response: response };
    } catch (error) {
      const failure = grpcFailureOf(error);
      if (failure.internal) this.#logInternal(error);
      // The request's id and model, so that a client matching answers by id can place the error.
      return { error_message: failure.details, infer_response: { id: request.id, model_name: request.model_name, model_version: request.model_version } };
    }
  }

  /** Writes `response`, then waits until the client has room for more (or the call is gone). */
  async #write(response: ModelStreamInferResponse): Promise<void> {
    if (this.#finished) return;
    if (this.#call.write(response)) return;
    await Promise.race([once(this.#call, 'drain').then(() => undefined, () => undefined), this.#gone]);
  }

  #endWhenAnswered(): void {
    if (this.#finished || this.#inFlight > 0 || !(this.#halfClosed || this.#closing)) return;
    this.#finish('OK');
    this.#call.end();
  }

  #finish(code: GrpcCodeName): void {
    if (this.#finished) return;
    this.#finished = true;
    if (code !== 'OK') this.#cancel.abort();
    this.#onFinished(code);
  }
}
