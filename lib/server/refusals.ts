/**
 * Refusals a client can read: every answer the server gives before or instead of reading a request — fastify's
 * (a bad URL, a path parameter too long) and Node's (a malformed request, headers too large, a request too
 * slow, an `Expect` it cannot meet) as much as the routes' own 401 and 413 — is the protocol's
 * `{"error": "…"}` body, echoes nothing of the request, and reaches the client:
 *
 * - **Read the rest, then close.** A refusal sent while the client is still sending its body says
 *   `Connection: close`, and the connection then stays open, its write side ended after the response, while
 *   what the client sends is read and thrown away — until the request's body ends, at most
 *   {@link discardBounds}`.bytes` or for {@link discardBounds}`.ms` — and only then closes. Closing at once
 *   (what Node does after a `Connection: close` response) leaves the client's bytes unread, the kernel answers
 *   them with a reset, and the reset can discard the response before the client has read it: Node's client
 *   saw EPIPE instead of a 413 in 7–10 of 10 tries with 1–40 MB bodies.
 * - **`Expect: 100-continue`**: `100 Continue` is sent only when the body is about to be read, after the
 *   token and the declared length have been checked, so a refusal replaces it (Node sends it before any
 *   handler runs unless the server handles 'checkContinue').
 * @module
 */
import { STATUS_CODES, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * How much of a refused request's remaining body is read and discarded, at most, before its connection
 * closes: 64 MiB (twice the default body limit: a client that overshoots by a few MB still reads its answer),
 * for at most 10 s after the response. A client that sends more or longer gets its connection closed then.
 */
export const discardBounds = Object.freeze({ bytes: 64 * 1024 * 1024, ms: 10_000 });

/** Sockets already set to read and discard before closing. */
const discarding = new WeakSet<Socket>();

/**
 * Makes `response` close its connection (`Connection: close`), and the connection read and discard what
 * the client still sends of `request`'s body (within `bounds`) after the response before it closes. Call
 * before the response's head is written; a request whose body has arrived whole only gets the header.
 */
export function closeAfterDiscarding(request: IncomingMessage, response: ServerResponse, bounds: { bytes: number; ms: number } = discardBounds): void {
  if (!response.headersSent) response.setHeader('connection', 'close');
  const socket = request.socket as Socket | null;
  if (socket === null || request.complete || discarding.has(socket)) return;
  discarding.add(socket);
  let discarded = 0;
  // Reading the body here also keeps Node from dumping it, after which its bytes could not be counted.
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > bounds.bytes) socket.destroy();
  });
  request.resume();
  // Once the response is written Node calls destroySoon(): end, then destroy once the response is flushed.
  // Here the end (the response, then FIN) comes at once and the destroy only once the body has been read.
  const endAndDestroy = socket.destroySoon.bind(socket);
  socket.destroySoon = () => {
    if (request.complete) {
      endAndDestroy();
      return;
    }
    socket.end();
    const timer = setTimeout(() => socket.destroy(), bounds.ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    request.once('end', endAndDestroy);
  };
}

/** Requests whose `100 Continue` waits until their body is read, with their responses. */
const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();

/**
 * Sends `100 Continue` to a request that asked for it (`Expect: 100-continue`) and has not had it: the
 * body parser calls this once the request has passed every check that can refuse it unread.
 */
export function continueIfExpected(request: IncomingMessage): void {
  const response = awaitingContinue.get(request);
  if (response === undefined) return;
  awaitingContinue.delete(request);
  if (!response.headersSent) response.writeContinue();
}

/** A raw JSON refusal with `Connection: close`, for a socket no response object owns. */
function rawRefusal(status: number, message: string): string {
  const body = JSON.stringify({ error: message });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** What `Expect` values other than `100-continue` get. */
const expectationFailed = 'the server meets no Expect header but "Expect: 100-continue"; send the request without it';

/**
 * Handles `Expect` on `server` (a thread's fastify server): `100-continue` requests go to the app without the
 * `100 Continue`, which {@link continueIfExpected} sends; any other expectation gets a 417 `{"error"}`.
 */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    awaitingContinue.set(request, response);
    server.emit('request', request, response);
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    closeAfterDiscarding(request, response);
    const body = JSON.stringify({ error: expectationFailed });
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
}

/** What the Node HTTP server's request timeouts are, for the 408 message. */
export interface RequestTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/** A `clientError` as Node reports it. */
interface ClientError extends Error {
  code?: string;
  reason?: string;
}

/** The status and message of an error Node's HTTP parser or timers raised on a connection. */
export function clientErrorAnswer(error: ClientError, timeouts: RequestTimeouts, maxHeaderBytes: number): { status: number; message: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `the request line and headers exceed ${maxHeaderBytes} bytes, the most the server reads` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        message: `the request did not arrive in time: its headers must arrive within ${timeouts.headersTimeoutMs} ms of its first byte `
          + `and the whole request within ${timeouts.requestTimeoutMs} ms`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'the chunk extensions of the request body are too large' };
    default: {
      // llhttp's reasons are fixed phrases ("Invalid header value char"); anything else is left out.
      const reason = typeof error.reason === 'string' && /^[A-Za-z0-9 ,.'()-]{1,100}$/.test(error.reason) ? `: ${error.reason}` : '';
      const code = typeof error.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(error.code) ? ` (${error.code})` : '';
      return { status: 400, message: `malformed HTTP request${code}${reason}` };
    }
  }
}

/**
 * fastify's `clientErrorHandler`: Node's parse errors and request timeouts answered `{"error"}` with
 * `Connection: close`, where the connection can still take an answer; the connection then closes once the
 * answer is flushed (or after {@link discardBounds}`.ms`).
 */
export function clientErrorHandler(timeouts: RequestTimeouts): (this: { log: FastifyBaseLogger }, error: ClientError, socket: Socket) => void {
  return function answerClientError(error, socket) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // Node's own check: a response of this connection may already have begun (its object is `_httpMessage`).
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const { status, message } = clientErrorAnswer(error, timeouts, maxHeaderSize);
    this.log.debug({ status, code: error.code, error: message }, 'request refused by the HTTP parser');
    const timer = setTimeout(() => socket.destroy(), discardBounds.ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.end(rawRefusal(status, message), () => socket.destroy());
  };
}

/** fastify's errors that answer before any route or hook, each with its status and message. */
function frameworkAnswer(error: FastifyError, maxParamLength: number): { status: number; message: string } {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, message: 'the URL path is not valid percent-encoded UTF-8' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, message: `a model name or version in the path is longer than ${maxParamLength} characters, the most the server takes` };
    default:
      return { status: 500, message: `internal error routing the request (${error.code ?? 'unknown'})` };
  }
}

/** fastify's `frameworkErrors`: its routing errors as `{"error"}` bodies that do not echo the path. */
export function frameworkErrorHandler(maxParamLength: number): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (error, request, reply) => {
    const { status, message } = frameworkAnswer(error, maxParamLength);
    request.log.debug({ status, code: error.code, error: message }, 'request refused by the router');
    if (request.raw.complete === false) closeAfterDiscarding(request.raw, reply.raw);
    void reply.code(status).send({ error: message });
  };
}
