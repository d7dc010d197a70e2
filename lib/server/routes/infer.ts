/**
 * Inference: `POST /v2/models/:m[/versions/:v]/infer`. Model and version → readiness → split and parse
 * the body → decode images (BYTES inputs) → the model's batcher → encode. Each outcome is counted in
 * the metrics; a client that disconnects while its request is queued takes it out of the queue. The
 * shared-memory regions a request names are held from parsing until its response is written or it failed
 * (a disconnect included), so none can be unregistered under it.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, unavailable, type FailureReason } from '../http-error.js';
import { splitInferBody, parseInferRequest } from '../infer-request.js';
import { encodeInferResponse } from '../infer-response.js';
import { engineFormat } from '../image-tensor.js';
import type { ModelInput } from '../served-model.js';
import type { LoadedSlot } from '../registry.js';
import { SharedMemoryLeases } from '../shared-memory.js';
import type { ModelParams, ServerContext } from '../server-context.js';
import type { ComputedOutput, ParsedInferRequest } from '../types.js';
import { modelUrls, route } from './route.js';

/** Microseconds since `start` (a `process.hrtime.bigint()` reading). */
function microsecondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

/**
 * The model's input for a parsed request: image tensors as sent (views on the body or the shared-memory
 * region, converted by the engine), or BYTES images decoded, resized and cropped into pixels.
 */
async function modelInput(slot: LoadedSlot, request: ParsedInferRequest): Promise<ModelInput> {
  const name = slot.loaded.model.signature.inputs[0]!.name;
  // parseInferRequest has checked that every input of the signature is present.
  const input = request.inputs.find((i) => i.name === name)!;
  if (input.datatype !== 'BYTES') {
    return { ...engineFormat(input.datatype, input.layout), samples: request.batchSize, segments: [input.data] };
  }
  // Decoding is the costly part of an image request: a request the queue would refuse is refused first.
  slot.loaded.batcher.refuseIfFull();
  return slot.loaded.model.decodeImages(input.elements);
}

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
export function inferRoutes(app: FastifyInstance, context: ServerContext): void {
  const { registry, metrics, state, admitted } = context;
  for (const url of modelUrls('/infer')) {
    route(app, 'POST', url, async (request, reply) => {
      const params = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const found = registry.find(params.model, params.version);
      const { name, version } = found.options;
      let reason: FailureReason = 'OTHER';
      const sharedMemory = new SharedMemoryLeases(context.sharedMemory);
      try {
        if (state.closing && !admitted.has(request.raw)) throw unavailable('server is shutting down');
        const slot = registry.loaded(found);
        const { signature } = slot.loaded.model;

        const inputStart = process.hrtime.bigint();
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const { header, binary } = splitInferBody(body, request.headers['inference-header-content-length'] as string | undefined);
        const parsed = parseInferRequest(header, binary, signature, sharedMemory);
        const input = await modelInput(slot, parsed);
        const computeInputMicroseconds = microsecondsSince(inputStart);

        reason = 'BACKEND';
        const scheduled = await slot.loaded.batcher.submit(input, parsed.batchSize, {
          signal: clientGoneSignal(reply),
          ...(parsed.timeoutMicroseconds === undefined ? {} : { timeoutMicroseconds: parsed.timeoutMicroseconds }),
        });
        reason = 'OTHER';

        const outputStart = process.hrtime.bigint();
        const outputs: ComputedOutput[] = signature.outputs.map((o, i) => ({ name: o.name, values: scheduled.output[i]! }));
        const encoded = encodeInferResponse(signature, parsed, outputs);
        const computeOutputMicroseconds = microsecondsSince(outputStart);

        metrics.requestSucceeded(name, version, {
          requestMicroseconds: reply.elapsedTime * 1000,
          queueMicroseconds: scheduled.queueMicroseconds,
          computeInputMicroseconds,
          computeInferMicroseconds: scheduled.computeMicroseconds,
          computeOutputMicroseconds,
          inferenceCount: parsed.batchSize,
        });
        reply.code(200).headers({ 'content-type': 'application/json', ...encoded.headers });
        return reply.send(encoded.body);
      } catch (error) {
        metrics.requestFailed(name, version, error instanceof HttpError ? error.reason : reason, reply.elapsedTime * 1000);
        throw error;
      } finally {
        // Shared-memory outputs were written by encodeInferResponse; a request that failed or was cancelled
        // reads and writes nothing more (the batcher copied its input when its batch was dispatched).
        sharedMemory.releaseAll();
      }
    });
  }
}
