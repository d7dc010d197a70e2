/**
 * Metadata: server metadata (`GET /v2`), model metadata and Triton's model configuration.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { version as packageVersion } from '../../version.js';
import { modelConfig, modelMetadata, serverMetadata } from '../metadata.js';
import type { ModelParams, ServerContext } from '../server-context.js';
import { modelUrls, route } from './route.js';

/** Registers `GET /v2`, `GET /v2/models/:m[/versions/:v]` and `…/config`. */
export function metadataRoutes(app: FastifyInstance, context: ServerContext): void {
  route(app, 'GET', '/v2', async () => serverMetadata(context.options.serverName, packageVersion, { systemSharedMemory: context.sharedMemory !== null }));
  for (const url of modelUrls('')) {
    route(app, 'GET', url, async (request) => {
      const { model, version } = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const { loaded } = context.registry.findLoaded(model, version);
      // Every version the name answers to may be requested explicitly (protocol §5).
      return { ...modelMetadata(loaded.model.signature), versions: context.registry.versions(model) };
    });
  }
  for (const url of modelUrls('/config')) {
    route(app, 'GET', url, async (request) => {
      const { model, version } = (request as FastifyRequest<{ Params: ModelParams }>).params;
      const { loaded } = context.registry.findLoaded(model, version);
      const served = loaded.model;
      return modelConfig(served.signature, served.batching, served.device.startsWith('cuda') ? 'gpu' : 'cpu', context.options);
    });
  }
}
