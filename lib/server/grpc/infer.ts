/**
 * One inference over gRPC (`ModelInfer`, or one request of `ModelStreamInfer`): model and version → readiness →
 * parse (through the HTTP parser, see infer-request.ts) → the same dispatch as the HTTP route (BYTES images
 * decoded, then the model's batcher) → encode. Each outcome is counted in the same metrics and statistics as
 * HTTP's. A client that cancels (or whose deadline passes) while its request is queued takes it out of the queue.
 *
 * The shared-memory regions a request names are held until its response is built or it failed AND the batch
 * that reads its input is no longer running, as on the HTTP route.
 * @module
 * @internal
 */
import { HttpError, unavailable, type FailureReason } from '../http-error.js';
import { computeRequestOf, microsecondsSince } from '../infer-dispatch.js';
import type { ServerContext } from '../server-context.js';
import type { ComputedOutput } from '../types.js';
import { parseModelInferRequest } from './infer-request.js';
import { modelInferResponse } from './infer-response.js';
import type { ModelInferRequest, ModelInferResponse } from './messages.js';

/** How a request is tied to its call. */
export interface GrpcInferOptions {
  /** Aborts when the call is cancelled (by the client, or its deadline). */
  readonly signal: AbortSignal;
  /**
   * Whether the request arrived before the server began closing: such requests are served while it drains,
   * later ones get UNAVAILABLE. (A unary call's whole message has arrived by the time it is handled, and the
   * endpoint accepts no new calls once closing begins; a stream's later requests are new work.)
   */
  readonly admitted: boolean;
  /**
   * The client whose image requests share the image workers fairly with other clients' (its HTTP/2 connection,
   * `grpc:` + the call's peer): one connection's images cannot hold every worker while others wait, as over HTTP.
   */
  readonly client: string;
}

/** Answers one `ModelInferRequest`; rejects with the HttpErrors (and the engine's errors) the HTTP route would answer. */
export async function modelInfer(context: ServerContext, request: ModelInferRequest, options: GrpcInferOptions): Promise<ModelInferResponse> {
  const start = process.hrtime.bigint();
  const { registry, dispatch, metrics } = context;
  const found = registry.find(request.model_name, request.model_version === '' ? undefined : request.model_version);
  const { name, version } = found.options;
  let reason: FailureReason = 'OTHER';
  const leases = context.leases();
  /** Resolves once nothing reads the input any more; null until the input is handed to the dispatch. */
  let inputReleased: Promise<void> | null = null;
  try {
    if (context.state.closing && !options.admitted) throw unavailable('server is shutting down');
    const signature = dispatch.signature(found);
    const parsed = parseModelInferRequest(request, signature, leases);
    const parseMicroseconds = microsecondsSince(start);

    reason = 'BACKEND';
    let onInputReleased!: () => void;
    inputReleased = new Promise<void>((resolve) => { onInputReleased = resolve; });
    const computed = await dispatch.compute(found, computeRequestOf(parsed, signature, options.client), { signal: options.signal, onInputReleased });
    reason = 'OTHER';

    const outputStart = process.hrtime.bigint();
    const outputs: ComputedOutput[] = signature.outputs.map((output, i) => ({ name: output.name, values: computed.outputs[i]! }));
    const response = modelInferResponse(signature, parsed, outputs);
    metrics.requestSucceeded(name, version, {
      requestMicroseconds: microsecondsSince(start),
      queueMicroseconds: computed.queueMicroseconds,
      computeInputMicroseconds: parseMicroseconds + computed.prepareMicroseconds,
      computeInferMicroseconds: computed.computeMicroseconds,
      computeOutputMicroseconds: microsecondsSince(outputStart),
      inferenceCount: parsed.batchSize,
    });
    return response;
  } catch (error) {
    metrics.requestFailed(name, version, error instanceof HttpError ? error.reason : reason, microsecondsSince(start));
    throw error;
  } finally {
    // Shared-memory outputs are written by now; a batch still running (the call was cancelled mid-batch) may
    // still read the input, so the regions go only once it has finished.
    if (inputReleased === null) leases.releaseAll();
    else void inputReleased.then(() => leases.releaseAll());
  }
}
