/**
 * Operations: Prometheus metrics (`GET /metrics`) and Triton's statistics extension
 * (`GET /v2/models/stats`, `GET /v2/models/:m[/versions/:v]/stats`).
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModelParams, ServerContext } from '../server-context.js';
import { modelUrls, route } from './route.js';

/** Registers `/metrics` and the statistics routes. */
export function statsRoutes(app: FastifyInstance, context: ServerContext): void {
  route(app, 'GET', '/metrics', async (_request, reply) => {
    const { contentType, body } = await context.metrics.render();
    reply.type(contentType).send(body);
  });
  route(app, 'GET', '/v2/models/stats', async () => context.metrics.statistics());
  for (const url of modelUrls('/stats')) {
    route(app, 'GET', url, async (request) => {
      const { model, version } = (request as FastifyRequest<{ Params: ModelParams }>).params;
      // Statistics of a known model, even one still loading (all zero then); unknown → 404.
      const slot = context.registry.find(model, version);
      return context.metrics.statistics(model, version === undefined ? undefined : slot.options.version);
    });
  }
}
