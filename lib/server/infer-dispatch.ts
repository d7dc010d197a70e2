/**
 * Between the infer route and the models: where a parsed request's input goes to be computed. On the main
 * thread ({@link localDispatch}) it goes straight to the model's batcher — BYTES images decoded first, on the
 * image workers; on an HTTP thread (remote-dispatch.ts) the same request travels to the main thread as a
 * message and this very function runs there. The route is one piece of code either way, so a request
 * answers the same whichever thread received it.
 * @module
 */
import type { FailureReason } from './http-error.js';
import { engineFormat } from './image-tensor.js';
import type { RequestTimes } from './model-statistics.js';
import type { ModelRegistry, ModelSlot } from './registry.js';
import type { ModelInput } from './served-model.js';
import type { ModelSignature, ParsedInferRequest, ParsedInput } from './types.js';

/** What computing a request needs of it, once parsed: plain data, so it can travel between threads. */
export interface ComputeRequest {
  /** The model's input as the request carried it (views on the body, JSON values, or BYTES elements). */
  readonly input: ParsedInput;
  readonly batchSize: number;
  /** Triton's `timeout` parameter, in microseconds; undefined: the model's default. */
  readonly timeoutMicroseconds?: number;
  /**
   * Who sent it (its connection, see connection-key.ts), so that the image workers are shared fairly between
   * clients; undefined: a client of its own.
   */
  readonly client?: string;
}

/** What the model computes of a parsed request: its (first) input, as carried, and the connection it came on. */
export function computeRequestOf(parsed: ParsedInferRequest, signature: ModelSignature, client: string): ComputeRequest {
  const name = signature.inputs[0]!.name;
  // parseInferRequest has checked that every input of the signature is present.
  const input = parsed.inputs.find((i) => i.name === name)!;
  return {
    input,
    batchSize: parsed.batchSize,
    client,
    ...(parsed.timeoutMicroseconds === undefined ? {} : { timeoutMicroseconds: parsed.timeoutMicroseconds }),
  };
}

/** A request's outputs (one per signature output, its rows only) and where its time went, in microseconds. */
export interface Computed {
  readonly outputs: Float32Array[];
  readonly queueMicroseconds: number;
  readonly computeMicroseconds: number;
  /** Preparing the input after parsing: decoding BYTES images (0 for tensors). */
  readonly prepareMicroseconds: number;
}

/** How a compute is tied to its request. */
export interface ComputeOptions {
  /** Aborts when the client goes away: the request leaves the queue (499). */
  readonly signal: AbortSignal;
  /**
   * Called once when nothing reads the request's input any more, whatever the outcome: its body may then
   * be reused. A request cancelled while its batch runs settles at once but is released only after it.
   */
  readonly onInputReleased: () => void;
}

/** Where the infer route sends parsed requests. */
export interface InferDispatch {
  /** The signature of the model in `slot`; 503 (Retry-After) while it loads. */
  signature(slot: ModelSlot): ModelSignature;
  /** Runs `request` on the model in `slot`; rejects with the batcher's HttpErrors (503, 499, 400) or the engine's. */
  compute(slot: ModelSlot, request: ComputeRequest, options: ComputeOptions): Promise<Computed>;
}

/** The counts of an inference request the route reports (ServerMetrics on the main thread). */
export interface RequestMetrics {
  requestSucceeded(model: string, version: string, times: RequestTimes): void;
  requestFailed(model: string, version: string, reason: FailureReason, requestMicroseconds: number): void;
}

/** Microseconds since `start` (a `process.hrtime.bigint()` reading). */
export function microsecondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

/** The dispatch of the main thread: the registry's loaded models and their batchers. */
export function localDispatch(registry: ModelRegistry): InferDispatch {
  return {
    signature: (slot) => registry.loaded(slot).loaded.model.signature,
    async compute(slot, request, { signal, onInputReleased }) {
      let handedOver = false;
      try {
        const { model, batcher } = registry.loaded(slot).loaded;
        const start = process.hrtime.bigint();
        let input: ModelInput;
        if (request.input.datatype === 'BYTES') {
          // Decoding is the costly part of an image request: a request the queue would refuse is refused first.
          batcher.refuseIfFull();
          const images = request.input.elements.map((element) => Buffer.from(element.buffer, element.byteOffset, element.byteLength));
          // A client that goes away takes its images off the workers; its connection shares them with the others.
          input = await model.decodeImages(images, { signal, ...(request.client === undefined ? {} : { client: request.client }) });
        } else {
          // Views on the bytes the request came in (no copy): the engine converts them itself.
          const { datatype, layout, data } = request.input;
          input = { ...engineFormat(datatype, layout), samples: request.batchSize, segments: [data] };
        }
        const prepareMicroseconds = request.input.datatype === 'BYTES' ? microsecondsSince(start) : 0;
        handedOver = true;
        const scheduled = await batcher.submit(input, request.batchSize, {
          signal,
          onInputReleased,
          ...(request.timeoutMicroseconds === undefined ? {} : { timeoutMicroseconds: request.timeoutMicroseconds }),
        });
        return {
          outputs: scheduled.output,
          queueMicroseconds: scheduled.queueMicroseconds,
          computeMicroseconds: scheduled.computeMicroseconds,
          prepareMicroseconds,
        };
      } finally {
        // Refused before the batcher saw it (loading, queue full, an image that does not decode).
        if (!handedOver) onInputReleased();
      }
    },
  };
}

/**
 * Thrown on an HTTP thread while parsing a request that only the main thread can answer (it names a
 * shared-memory region, whose mapping lives there): the route hands the whole request over instead.
 */
export class MainThreadRequired extends Error {
  constructor() {
    super('this request must be answered by the main thread');
    this.name = 'MainThreadRequired';
  }
}
