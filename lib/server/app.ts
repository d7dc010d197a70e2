/**
 * The fastify instance: pino logging at the configured level, one body parser for every content type,
 * bearer-token auth, `{"error": …}` bodies for every failure (fastify's and Node's own included, each
 * readable by a client still sending its body: refusals.ts), the connection bounds (connections.ts), and
 * the routes.
 * Every thread that answers HTTP builds its app here (the main thread with every route, an HTTP thread with
 * the infer route and a handler that forwards the rest to the main thread), so hooks, limits and error
 * bodies are one piece of code whichever thread a request reached.
 *
 * fastify is loaded when the first server is created, not when the package is imported: most users of
 * the library never serve, and loading it costs about 0.2 s.
 * @module
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { readBody } from './body.js';
import { connectionLimits, headersTimeoutMs, httpServerOptions, limitConnections, requestTimeoutMs } from './connections.js';
import { clientErrorHandler, closeAfterDiscarding, deferContinue, frameworkErrorHandler } from './refusals.js';
import { requireServerPeer } from './optional-peers.js';
import { bearerTokenCheck, isPublicPath, unauthorized } from './auth.js';
import { HttpError } from './http-error.js';
import type { InFlight } from './in-flight.js';
import type { AppContext, ServerContext } from './server-context.js';
import { healthRoutes } from './routes/health.js';
import { metadataRoutes } from './routes/metadata.js';
import { inferRoutes } from './routes/infer.js';
import { statsRoutes } from './routes/stats.js';
import { sharedMemoryRoutes } from './routes/shared-memory.js';

/** The longest model name (resolve-options.ts) or version a route parameter carries. */
const maxParamLength = 128;

/** The status and body of an error that reached fastify's error handler. */
function errorResponse(error: FastifyError | HttpError | Error): { status: number; message: string; headers: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: { ...error.headers } };
  const status = (error as FastifyError).statusCode;
  // fastify's own client errors (413 body too large, 415, 400 for a body cut short) keep their status.
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, message: error.message, headers: {} };
  return { status: 500, message: `internal error: ${error.message}`, headers: {} };
}

/**
 * The header by which an HTTP thread marks a request it forwards to the main thread as admitted before
 * closing began; its value is the main thread's `forwardSecret`, so no client can claim it.
 */
export const forwardedAdmissionHeader = 'x-resnet-forwarded-admitted';

/** What a thread's app answers: its routes, and what answers a request no route matched. */
export interface AppRoutes {
  routes(app: FastifyInstance): void;
  notFound(request: FastifyRequest, reply: FastifyReply): unknown;
}

/** Every route of the main thread; an unknown route is a 404. */
export function mainRoutes(context: ServerContext): AppRoutes {
  return {
    routes(app) {
      healthRoutes(app, context);
      metadataRoutes(app, context);
      inferRoutes(app, context);
      statsRoutes(app, context);
      sharedMemoryRoutes(app, context);
    },
    notFound(request, reply) {
      // The path is not echoed: the client knows it, and a refusal repeats nothing the client sent.
      reply.code(404).send({ error: `no route for ${request.method} at this path (the protocol's routes are under /v2/; metrics at /metrics)` });
    },
  };
}

/**
 * Builds the fastify app of a thread (no listening yet). `acceptingThreads`: how many threads accept
 * connections for the server (each takes its share of `maxConnections`).
 */
export function buildApp(context: AppContext, inFlight: InFlight, routes: AppRoutes, acceptingThreads = 1): FastifyInstance {
  const { options, bodies } = context;
  const fastify = requireServerPeer<typeof import('fastify').default>('fastify');
  const limits = connectionLimits(options, acceptingThreads);
  const app = fastify({
    logger: { level: options.logLevel },
    bodyLimit: options.maxBodyBytes,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: httpServerOptions(limits),
    clientErrorHandler: clientErrorHandler({ headersTimeoutMs: headersTimeoutMs(limits), requestTimeoutMs }),
    frameworkErrors: frameworkErrorHandler(maxParamLength),
    // Model names may be 128 characters (resolve-options.ts); fastify's default route parameter is 100.
    routerOptions: { maxParamLength },
    // fastify's request logs are two lines per inference at `info`; the hooks below log them at debug.
    logController: new fastify.LogController({ disableRequestLogging: true }),
    // fastify's own 503 while closing has a body other than {"error"}; the routes answer it themselves.
    return503OnClosing: false,
  }) as unknown as FastifyInstance;

  const checkToken = options.authToken === null ? () => true : bearerTokenCheck(options.authToken);
  app.addHook('onRequest', async (request, reply) => {
    // The body's buffer goes back to the pool only once nothing can read it: see body-pool.ts.
    reply.raw.once('close', () => bodies.release(request.raw));
    const mark = request.headers[forwardedAdmissionHeader];
    if (mark !== undefined) delete request.headers[forwardedAdmissionHeader];
    const admittedByThread = context.forwardSecret !== null && mark === context.forwardSecret;
    // A request that arrives once closing has begun gets a quick 503 and is not waited for.
    if (!context.state.closing || admittedByThread) {
      context.admitted.add(request.raw);
      inFlight.track(reply.raw);
    }
    request.log.debug({ method: request.method, url: request.url }, 'request');
    if (!isPublicPath(request.url) && !checkToken(request.headers.authorization)) {
      throw unauthorized();
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // Answered before its body arrived whole (401, 413, 404, …): the client reads the answer, then the connection closes.
    // (A request forwarded by an HTTP thread has no `complete`: its thread read the body.)
    if (request.raw.complete === false) closeAfterDiscarding(request.raw, reply.raw);
    // Once closing, every response is its connection's last: Node closes the connection once it is written,
    // and the client knows not to send another request on it (connection-drain.ts closes the idle ones).
    else if (context.state.closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'response');
  });

  // Every body arrives as its raw bytes: the infer route decides between JSON and JSON + binary from
  // Inference-Header-Content-Length, not from the content type (as Triton). A declared Content-Length (or
  // Inference-Header-Content-Length) over its limit (body.ts) is refused (413) before anything is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => readBody(payload as IncomingMessage, options, done, bodies));

  app.setErrorHandler((error: FastifyError | HttpError, request, reply: FastifyReply) => {
    const { status, message, headers } = errorResponse(error);
    if (status >= 500 && status !== 503) request.log.error({ err: error, url: request.url }, 'request failed');
    else request.log.debug({ status, url: request.url, error: message }, 'request refused');
    reply.code(status).headers(headers).send({ error: message });
  });
  app.setNotFoundHandler((request, reply) => routes.notFound(request, reply));
  routes.routes(app);
  deferContinue(app.server);
  limitConnections(app.server, limits, app.log);
  return app;
}
