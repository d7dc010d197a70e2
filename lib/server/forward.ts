/**
 * Requests an HTTP thread does not answer itself — every route but inference (health, metadata, config,
 * statistics, metrics, shared-memory registration, an embedder's own routes) and inferences that name
 * shared memory — go to the main thread's fastify app whole: the HTTP thread sends method, URL, headers and
 * body ({@link Forwarder}), the main thread runs them through `app.inject` ({@link answerForwarded}), and
 * the status, headers and body come back as they were. So every such request answers exactly as the
 * single-thread server would; it costs a copy of its body, which these requests (small JSON) can afford.
 *
 * A request the HTTP thread admitted before closing began is marked with the main thread's secret
 * ({@link forwardedAdmissionHeader}), so the main thread serves it as admitted too; a client's own header of
 * that name is removed by the hooks of every thread. A client that goes away cancels the inject.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { forwardedAdmissionHeader } from './app.js';
import type { AdmittedRequests } from './server-context.js';
import {
  fromWireError, toWireError,
  type ForwardedResponse, type FromHttpThread, type Outbox, type ToHttpThread, type WireHeaders,
} from './thread-messages.js';

/** Headers of one connection, never relayed (the relaying thread's own connection has its own). */
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

/** `headers` without the hop-by-hop ones (and without `also`). */
function endToEnd(headers: WireHeaders, also: readonly string[] = []): WireHeaders {
  const kept: WireHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name) && !also.includes(name)) kept[name] = value;
  }
  return kept;
}

interface PendingForward {
  resolve: (response: ForwardedResponse) => void;
  reject: (error: Error) => void;
}

/** An HTTP thread's side: sends requests to the main thread and relays the answers. */
export class Forwarder {
  readonly #outbox: Outbox<FromHttpThread>;
  readonly #admitted: AdmittedRequests;
  readonly #secret: string;
  readonly #pending = new Map<number, PendingForward>();
  #nextId = 1;

  constructor(outbox: Outbox<FromHttpThread>, admitted: AdmittedRequests, secret: string) {
    this.#outbox = outbox;
    this.#admitted = admitted;
    this.#secret = secret;
  }

  /** Sends `request` to the main thread and answers `reply` with what it answered. */
  async forward(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const id = this.#nextId++;
    // A copy, given away: the body's own buffer goes back to this thread's pool when the response closes.
    const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? new Uint8Array(request.body) : null;
    const headers = endToEnd(request.headers as WireHeaders, ['content-length', forwardedAdmissionHeader]);
    if (this.#admitted.has(request.raw)) headers[forwardedAdmissionHeader] = this.#secret;
    const answered = new Promise<ForwardedResponse>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#outbox.send({ type: 'forward', id, method: request.method, url: request.raw.url ?? request.url, headers, body }, body === null ? [] : [body.buffer as ArrayBuffer]);
    const response = reply.raw;
    const onClose = (): void => {
      if (!response.writableFinished) this.#outbox.send({ type: 'cancelForward', id });
    };
    response.once('close', onClose);
    try {
      const { status, headers: answerHeaders, body: answerBody } = await answered;
      reply.code(status);
      for (const [name, value] of Object.entries(endToEnd(answerHeaders, ['date']))) reply.header(name, value);
      // No payload at all for an empty answer: fastify would give a Buffer, even an empty one, a content type.
      if (answerBody.byteLength === 0) return reply.send();
      return reply.send(Buffer.from(answerBody.buffer, answerBody.byteOffset, answerBody.byteLength));
    } finally {
      response.removeListener('close', onClose);
    }
  }

  /** Handles the main thread's answers; false for any other message. */
  receive(message: ToHttpThread): boolean {
    if (message.type !== 'forwarded' && message.type !== 'forwardFailed') return false;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return true;
    this.#pending.delete(message.id);
    if (message.type === 'forwarded') pending.resolve(message.response);
    else pending.reject(fromWireError(message.error));
    return true;
  }
}

/**
 * The main thread's side: runs a forwarded request through `app` and returns the message that answers it
 * (the body a copy of its own, given away). `signal` aborts the inject when the client went away.
 */
export async function answerForwarded(
  app: FastifyInstance, message: Extract<FromHttpThread, { type: 'forward' }>, signal: AbortSignal,
): Promise<{ answer: ToHttpThread; transfer: ArrayBuffer[] }> {
  const { id } = message;
  try {
    const answer = await app.inject({
      method: message.method as 'GET',
      url: message.url,
      headers: message.headers as Record<string, string>,
      ...(message.body === null ? {} : { payload: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength) }),
      signal,
    });
    const body = new Uint8Array(answer.rawPayload);
    return { answer: { type: 'forwarded', id, response: { status: answer.statusCode, headers: answer.headers as WireHeaders, body } }, transfer: [body.buffer as ArrayBuffer] };
  } catch (error) {
    return { answer: { type: 'forwardFailed', id, error: toWireError(error) }, transfer: [] };
  }
}
