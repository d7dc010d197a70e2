/**
 * Health: server live, server ready, model ready. The answer is the status alone (200 or 503, empty
 * body), as Kubernetes probes and Triton's clients read it; an unknown model is still a 404 error.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelParams, ServerContext } from '../server-context.js';
import { modelUrls, route } from './route.js';

/** Registers `/v2/health/live`, `/v2/health/ready` and `/v2/models/:m[/versions/:v]/ready`. */
export function healthRoutes(app: FastifyInstance, context: ServerContext): void {
  route(app, 'GET', '/v2/health/live', async (_request, reply) => {
    reply.code(200).send();
  });
  route(app, 'GET', '/v2/health/ready', async (_request, reply) => {
    reply.code(context.state.ready ? 200 : 503).send();
  });
  for (const url of modelUrls('/ready')) {
    route(app, 'GET', url, async (request, reply) => {
      const { model, version } = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const slot = context.registry.find(model, version);
      reply.code(slot.loaded !== null && !context.state.closing ? 200 : 503).send();
    });
  }
}
