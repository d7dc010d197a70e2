/**
 * Route registration helpers: a path answers its own method and 405 to every other, and model routes
 * exist with and without `/versions/:version`.
 * @module
 */
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import { HttpError } from '../http-error.js';

type Method = 'GET' | 'POST';

/** Methods a client might try on a path; HEAD is fastify's own for GET routes. */
const allMethods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Registers `handler` for `method` on `url`, and a 405 (with `Allow`) for the other methods. */
export function route(app: FastifyInstance, method: Method, url: string, handler: RouteHandlerMethod): void {
  app.route({ method, url, handler });
  const allow = method === 'GET' ? 'GET, HEAD' : method;
  app.route({
    method: allMethods.filter((m) => m !== method),
    url,
    handler: async (request) => {
      throw new HttpError(405, `method ${request.method} not allowed on ${url} (allowed: ${allow})`, { headers: { allow } });
    },
  });
}

/** `/v2/models/:model<suffix>` and `/v2/models/:model/versions/:version<suffix>`. */
export function modelUrls(suffix: string): string[] {
  return [`/v2/models/:model${suffix}`, `/v2/models/:model/versions/:version${suffix}`];
}
