/**
 * Inference: `POST /v2/models/:m[/versions/:v]/infer`. Model and version → readiness → split and parse
 * the body → the dispatch (BYTES images decoded, then the model's batcher; see infer-dispatch.ts) →
 * encode. Each outcome is counted in the metrics; a client that disconnects while its request is queued
 * takes it out of the queue. The same route runs on the main thread and on every HTTP thread: only the
 * context differs (where the dispatch and the metrics go).
 *
 * What a request holds, and until when: its body (a block of the registered arena the engine reads in
 * place) and the shared-memory regions it names are held until its response is written or it failed AND
 * the batch that reads its input is no longer running — a client that disconnects mid-batch gets its
 * answer dropped at once, but its memory is neither reused nor unregistered under the running batch.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { connectionKey } from '../connection-key.js';
import { HttpError, unavailable, type FailureReason } from '../http-error.js';
import { splitInferBody, parseInferRequest } from '../infer-request.js';
import { encodeInferResponse } from '../infer-response.js';
import { MainThreadRequired, computeRequestOf, microsecondsSince } from '../infer-dispatch.js';
import type { InferContext, ModelParams } from '../server-context.js';
import type { ComputedOutput } from '../types.js';
import { modelUrls, route } from './route.js';

/**
 * A signal that aborts when the client goes away before its response is written (the raw response
 * closes unfinished).
 */
function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  if (response.destroyed && !response.writableFinished) controller.abort();
  else response.once('close', () => { if (!response.writableFinished) controller.abort(); });
  return controller.signal;
}

/** Registers the infer routes. */
export function inferRoutes(app: FastifyInstance, context: InferContext): void {
  const { registry, dispatch, metrics, state, admitted, bodies } = context;
  for (const url of modelUrls('/infer')) {
    route(app, 'POST', url, async (request, reply) => {
      const params = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const found = registry.find(params.model, params.version);
      const { name, version } = found.options;
      let reason: FailureReason = 'OTHER';
      const sharedMemory = context.leases();
      const releaseBody = bodies.retain(request.raw);
      /** Resolves once nothing reads the input any more; null until the input is handed to the dispatch. */
      let inputReleased: Promise<void> | null = null;
      try {
        if (state.closing && !admitted.has(request.raw)) throw unavailable('server is shutting down');
        const signature = dispatch.signature(found);

        const inputStart = process.hrtime.bigint();
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const { header, binary } = splitInferBody(
          body, request.headers['inference-header-content-length'] as string | undefined, context.options.maxJsonValues,
        );
        const parsed = parseInferRequest(header, binary, signature, sharedMemory);
        const parseMicroseconds = microsecondsSince(inputStart);

        reason = 'BACKEND';
        let onInputReleased!: () => void;
        inputReleased = new Promise<void>((resolve) => { onInputReleased = resolve; });
        const computed = await dispatch.compute(found, computeRequestOf(parsed, signature, connectionKey(request.raw.socket)), {
          signal: clientGoneSignal(reply),
          onInputReleased,
        });
        reason = 'OTHER';

        const outputStart = process.hrtime.bigint();
        const outputs: ComputedOutput[] = signature.outputs.map((o, i) => ({ name: o.name, values: computed.outputs[i]! }));
        const encoded = encodeInferResponse(signature, parsed, outputs);
        const computeOutputMicroseconds = microsecondsSince(outputStart);

        metrics.requestSucceeded(name, version, {
          requestMicroseconds: reply.elapsedTime * 1000,
          queueMicroseconds: computed.queueMicroseconds,
          computeInputMicroseconds: parseMicroseconds + computed.prepareMicroseconds,
          computeInferMicroseconds: computed.computeMicroseconds,
          computeOutputMicroseconds,
          inferenceCount: parsed.batchSize,
        });
        reply.code(200).headers({ 'content-type': 'application/json', ...encoded.headers });
        return reply.send(encoded.body);
      } catch (error) {
        // An HTTP thread met a shared-memory tensor: the main thread answers (and counts) the whole request.
        if (error instanceof MainThreadRequired && context.forward !== undefined) return context.forward(request, reply);
        metrics.requestFailed(name, version, error instanceof HttpError ? error.reason : reason, reply.elapsedTime * 1000);
        throw error;
      } finally {
        // Shared-memory outputs were written by encodeInferResponse; the input may still be read by a running
        // batch (the client left mid-batch), so the body and the regions go only once it has finished.
        if (inputReleased === null) {
          releaseBody();
          sharedMemory.releaseAll();
        } else {
          void inputReleased.then(() => {
            releaseBody();
            sharedMemory.releaseAll();
          });
        }
      }
    });
  }
}
