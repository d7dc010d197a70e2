/**
 * One HTTP GET for the downloader, on undici: redirects followed by hand (a bounded number, each hop's
 * body discarded), timeouts for connecting, for the headers and between body chunks, cancellation by an
 * `AbortSignal`, and the proxies of the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` and their
 * lower-case forms, through undici's `EnvHttpProxyAgent`). A failure is a {@link TransferError} that says
 * whether trying again may help; an abort rejects with the signal's reason, as `fetch` does.
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

/** Why a transfer stopped; `retry` says whether trying again may help. */
export class TransferError extends Error {
  constructor(
    message: string,
    /** Whether another try may succeed (a broken connection, a 5xx), as opposed to a 404 or a bad URL. */
    readonly retry: boolean,
    /** The HTTP status of the failing answer, when there was one. */
    readonly status?: number,
    /** The network error's code (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_CONNECT_TIMEOUT` …), when there was one. */
    readonly networkCode?: string,
  ) {
    super(message);
  }
}

/** The final answer of {@link httpGet}: its status, headers and unread body, and the URL that gave it. */
export interface HttpAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

/** Options of {@link httpGet}. */
export interface HttpGetOptions {
  headers?: Record<string, string>;
  maxRedirects: number;
  /** Milliseconds allowed for the headers, and between two chunks of the body; 0: no limit. */
  timeoutMs: number;
  dispatcher: Dispatcher;
  signal?: AbortSignal | undefined;
}

/**
 * The dispatcher a download uses when the caller gives none: the environment's proxies, and `timeoutMs`
 * (0: none) for connecting too. Plain-HTTP URLs go to an HTTP proxy as absolute-URI requests, as curl and
 * wget send them, rather than through a CONNECT tunnel that many proxies allow to port 443 only.
 */
export function environmentDispatcher(timeoutMs: number): Dispatcher {
  return new EnvHttpProxyAgent({ proxyTunnel: false, connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
}

/** Network errors after which another try cannot help: nobody answers at that name or port. */
const definitiveNetworkCodes = new Set(['ENOTFOUND', 'ECONNREFUSED']);

/** A network failure as a TransferError, keeping the innermost error code (undici wraps some). */
export function networkFailure(error: unknown, prefix = ''): TransferError {
  let code: string | undefined;
  let message = error instanceof Error ? error.message : String(error);
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') {
      code = c;
      if (e !== error) message = `${message} (${e.message})`;
    }
  }
  // undici's refusal by a proxy (`Proxy response (403) !== 200 when HTTP Tunneling`) is definitive too.
  const proxyRefused = /^Proxy response \(\d+\)/.test(message);
  return new TransferError(`${prefix}${message}`, !(code !== undefined && definitiveNetworkCodes.has(code)) && !proxyRefused, undefined,
    proxyRefused ? 'ERR_PROXY' : code);
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/**
 * GETs `url`, following up to `maxRedirects` redirects; resolves on the final answer's headers, whatever
 * its status, with the body unread.
 * @throws TransferError; the signal's reason when it aborts.
 */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpAnswer> {
  const { signal } = options;
  let current = url;
  for (let hop = 0; ; hop++) {
    let parsed: URL;
    try {
      parsed = new URL(current);
    } catch {
      throw new TransferError(`invalid URL ${JSON.stringify(current)}`, false);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TransferError(`unsupported protocol ${parsed.protocol} in ${current}`, false);
    }
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(parsed, {
        method: 'GET',
        headers: { 'user-agent': 'resnet-cudnn', ...options.headers },
        dispatcher: options.dispatcher,
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
    } catch (error) {
      signal?.throwIfAborted();
      throw networkFailure(error);
    }
    const status = answer.statusCode;
    if (!redirectStatuses.has(status)) return { statusCode: status, headers: answer.headers, body: answer.body, url: current };
    await answer.body.dump().catch(() => {});
    const location = answer.headers.location;
    if (typeof location !== 'string' || location === '') {
      throw new TransferError(`HTTP ${status} without a Location header from ${current}`, false, status);
    }
    if (hop >= options.maxRedirects) {
      throw new TransferError(`more than ${options.maxRedirects} redirects (last to ${location})`, false, status);
    }
    current = new URL(location, current).href;
  }
}
