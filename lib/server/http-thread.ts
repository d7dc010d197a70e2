/**
 * The script of one HTTP thread (a node:worker_threads Worker; see http-threads.ts for the threading
 * model). It accepts on its own listening socket (the server's port, SO_REUSEPORT), reads bodies into its
 * arena, and answers inferences with the same fastify hooks and infer route as the main thread: parsing,
 * validation and encoding happen here, the batch runs on the main thread (remote-dispatch.ts). Everything
 * else is forwarded to the main thread's app (forward.ts). It never loads the engine.
 * @module
 * @internal
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { buildApp } from './app.js';
import { BodyPool } from './body-pool.js';
import { ConnectionDrain, drainTimes, settlesWithin } from './connection-drain.js';
import { Forwarder } from './forward.js';
import { InFlight } from './in-flight.js';
import { ModelRegistry } from './registry.js';
import { RemoteDispatch } from './remote-dispatch.js';
import { inferRoutes } from './routes/infer.js';
import type { InferContext, LifeCycle } from './server-context.js';
import { Outbox, type FromHttpThread, type HttpThreadData, type ToHttpThread } from './thread-messages.js';

async function run(port: NonNullable<typeof parentPort>, data: HttpThreadData): Promise<void> {
  const outbox = new Outbox<FromHttpThread>(port);
  const state: LifeCycle = { ready: false, closing: false };
  const admitted = new WeakSet<object>();
  const bodies = new BodyPool();
  bodies.useArena(data.arena);
  const dispatch = new RemoteDispatch(outbox);
  const forwarder = new Forwarder(outbox, admitted, data.forwardSecret);
  const inFlight = new InFlight();
  const context: InferContext = {
    options: data.options,
    state,
    admitted,
    bodies,
    // This thread honours no forwarded admission: only the main thread receives forwarded requests.
    forwardSecret: null,
    registry: new ModelRegistry(data.options.models),
    dispatch,
    metrics: dispatch,
    leases: () => dispatch.leases(),
    forward: (request, reply) => forwarder.forward(request, reply),
  };
  const app = buildApp(context, inFlight, {
    routes: (instance) => inferRoutes(instance, context),
    notFound: (request, reply) => forwarder.forward(request, reply),
  }, data.threads);

  const drain = new ConnectionDrain(app.server);
  const times = drainTimes(data.options.shutdownTimeoutMs);
  const stop = async (graceMs: number): Promise<void> => {
    drain.begin(times);
    if (!(await settlesWithin(drain.closed(), graceMs))) drain.closeAll();
    await app.close();
    outbox.send({ type: 'stopped' });
    outbox.flush();
    port.close();
  };
  port.on('message', (messages: ToHttpThread[]) => {
    for (const message of messages) {
      if (dispatch.receive(message) || forwarder.receive(message)) continue;
      if (message.type === 'closing') {
        state.closing = true;
        drain.begin(times);
        void inFlight.idle().then(() => outbox.send({ type: 'drained' }));
      } else if (message.type === 'stop') {
        void stop(message.graceMs).catch((error: unknown) => {
          app.log.error({ err: error, thread: data.index }, 'closing an HTTP thread failed');
          port.close();
        });
      }
    }
  });

  app.server.on('connection', () => outbox.send({ type: 'connection' }));
  // With `fd`, Node accepts on the socket as it is (host and port are the socket's own); the host given
  // here only keeps fastify from binding a second address, as it does for 'localhost'.
  await app.listen({ fd: data.fd, host: data.host } as { host: string });
  outbox.send({ type: 'listening' });
}

if (!isMainThread && parentPort !== null) {
  // A failure is an unhandled rejection, which ends the thread and reaches the main thread as the Worker's
  // 'error' event: start() fails with it, or the crash is logged and the other threads serve on.
  void run(parentPort, workerData as HttpThreadData);
}
