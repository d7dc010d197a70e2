/**
 * Triton's shared-memory extension over HTTP: `v2/systemsharedmemory` (status, register, unregister)
 * answered by the server's {@link SharedMemoryRegistry}, or a 400 that says how to turn it on when the
 * server runs without `--allow-shm`; `v2/cudasharedmemory` always answers a 400 (not supported here).
 * Register and unregister answer 200 with an empty body, as Triton does.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { shownText } from '../../describe-value.js';
import { checkJsonValueCount, parseRequestJson } from '../request-json.js';
import { jsonBodyTooLarge } from '../body.js';
import { badRequest } from '../http-error.js';
import { sharedMemoryDisabledMessage, type SharedMemoryRegistry } from '../shared-memory.js';
import type { ServerContext } from '../server-context.js';
import { route } from './route.js';

interface RegionParams {
  region: string;
}

/** The registry, or the 400 every shared-memory request gets while the extension is off. */
function enabled(registry: SharedMemoryRegistry | null): SharedMemoryRegistry {
  if (registry === null) throw badRequest(sharedMemoryDisabledMessage);
  return registry;
}

/**
 * A register request's JSON body; empty is `undefined` (the registry says what it needed). The body parser
 * held it to `maxJsonBodyBytes` unless it came with Inference-Header-Content-Length, which means nothing here.
 */
function jsonBody(request: FastifyRequest, name: string, limits: { maxJsonBodyBytes: number; maxJsonValues: number }): unknown {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (body.length === 0) return undefined;
  if (body.length > limits.maxJsonBodyBytes) throw jsonBodyTooLarge(body.length, limits.maxJsonBodyBytes);
  const what = `the register request of shared memory region '${shownText(name)}'`;
  checkJsonValueCount(body, what, limits.maxJsonValues);
  return parseRequestJson(body.toString('utf8'), what, 'send {"key", "offset", "byte_size"}');
}

/** The refusal of every CUDA shared-memory request (over HTTP and gRPC). */
export const cudaSharedMemoryUnsupported = 'CUDA shared memory is not supported by this server: register the tensors\' memory as system shared memory '
  + '(v2/systemsharedmemory, POSIX shm_open) instead';

/** Registers the `v2/systemsharedmemory/…` and `v2/cudasharedmemory/…` routes. */
export function sharedMemoryRoutes(app: FastifyInstance, context: ServerContext): void {
  const base = '/v2/systemsharedmemory';
  const regionOf = (request: FastifyRequest): string => (request as FastifyRequest<{ Params: RegionParams }>).params.region;

  route(app, 'GET', `${base}/status`, async () => enabled(context.sharedMemory).status());
  route(app, 'GET', `${base}/region/:region/status`, async (request) => enabled(context.sharedMemory).status(regionOf(request)));
  route(app, 'POST', `${base}/region/:region/register`, async (request, reply) => {
    const registry = enabled(context.sharedMemory);
    const name = regionOf(request);
    registry.register(name, jsonBody(request, name, context.options));
    request.log.debug({ region: name, mappedBytes: registry.mappedBytes }, 'shared memory region registered');
    reply.code(200).send();
  });
  route(app, 'POST', `${base}/unregister`, async (_request, reply) => {
    enabled(context.sharedMemory).unregister();
    reply.code(200).send();
  });
  route(app, 'POST', `${base}/region/:region/unregister`, async (request, reply) => {
    enabled(context.sharedMemory).unregister(regionOf(request));
    reply.code(200).send();
  });

  const cuda = '/v2/cudasharedmemory';
  const refuse = async (): Promise<never> => {
    throw badRequest(cudaSharedMemoryUnsupported);
  };
  route(app, 'GET', `${cuda}/status`, refuse);
  route(app, 'GET', `${cuda}/region/:region/status`, refuse);
  route(app, 'POST', `${cuda}/region/:region/register`, refuse);
  route(app, 'POST', `${cuda}/unregister`, refuse);
  route(app, 'POST', `${cuda}/region/:region/unregister`, refuse);
}
