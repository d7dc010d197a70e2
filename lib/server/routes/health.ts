/**
 * Health: server live, server ready, model ready. The answer is the status alone (200 or 503, empty
 * body), as Kubernetes probes and Triton's clients read it; an unknown model is still a 404 error.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModelParams, ServerContext } from '../server-context.js';
import { modelUrls, route } from './route.js';

/** The status alone: 200, or 503 with `Retry-After` (loading or shutting down), as every 503 of the server. */
function healthStatus(reply: FastifyReply, ok: boolean): void {
  if (ok) reply.code(200).send();
  else reply.code(503).header('retry-after', '1').send();
}

/** Registers `/v2/health/live`, `/v2/health/ready` and `/v2/models/:m[/versions/:v]/ready`. */
export function healthRoutes(app: FastifyInstance, context: ServerContext): void {
  route(app, 'GET', '/v2/health/live', async (_request, reply) => {
    reply.code(200).send();
  });
  route(app, 'GET', '/v2/health/ready', async (_request, reply) => {
    healthStatus(reply, context.state.ready);
  });
  for (const url of modelUrls('/ready')) {
    route(app, 'GET', url, async (request, reply) => {
      const { model, version } = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const slot = context.registry.find(model, version);
      healthStatus(reply, slot.loaded !== null && !context.state.closing);
    });
  }
}
