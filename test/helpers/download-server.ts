/**
 * Local HTTP servers for the download tests, on 127.0.0.1 only: a file server whose behaviour a test
 * picks (Range support, broken connections, a stall, redirects, errors), and a forward proxy for http://
 * URLs that records what went through it and refuses any target but 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the file server does with the next requests. */
export type Behaviour =
  | 'ok' // 200, or 206 for a Range
  | 'break-once' // the first answer dies half-way (after a pause, so that the client has the half); then 'ok'
  | 'break-always' // every answer dies after 100 bytes (and a pause)
  | 'no-range' // ignores Range (always 200); the first answer dies half-way
  | 'stall' // the first answer sends half, then waits (until the client goes); then 'ok'
  | 'too-large' // declares a Content-Length of 10 GiB
  | '404'
  | 'redirect' // 301 to /final/<path>
  | 'redirect-loop';

/** One request the file server saw. */
export interface SeenRequest {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  via: string | undefined;
}

/** A file server serving `payload` at every path, with a switchable {@link Behaviour}. */
export interface FileServer {
  origin: string;
  requests: SeenRequest[];
  behaviour: Behaviour;
  /** Resolves when a 'stall' answer has sent its first half. */
  stalled: Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Starts a {@link FileServer} for `payload`. */
export async function startFileServer(payload: Buffer): Promise<FileServer> {
  let broken = 0;
  let stalledResolve: () => void = () => {};
  const state = {
    origin: '',
    requests: [] as SeenRequest[],
    behaviour: 'ok' as Behaviour,
    stalled: Promise.resolve(),
    reset() {
      state.behaviour = 'ok';
      state.requests.length = 0;
      broken = 0;
      state.stalled = new Promise<void>((resolve) => { stalledResolve = resolve; });
    },
    close: () => close(server),
  };
  const half = payload.length >> 1;
  const server = http.createServer((req, res) => {
    const b = state.behaviour;
    state.requests.push({ path: req.url ?? '', range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, via: req.headers.via as string | undefined });
    if (b === '404') return void res.writeHead(404).end('not here');
    if (b === 'redirect-loop') return void res.writeHead(302, { Location: req.url! }).end();
    if (b === 'redirect' && !req.url!.startsWith('/final/')) return void res.writeHead(301, { Location: `/final${req.url}` }).end();
    if (b === 'too-large') {
      res.writeHead(200, { 'Content-Length': 10 * 2 ** 30 });
      return void res.write(payload.subarray(0, 100));
    }
    if (b === 'break-always') {
      res.writeHead(200, { 'Content-Length': payload.length });
      return void res.write(payload.subarray(0, 100), () => setTimeout(() => res.socket?.end(), 100));
    }
    const headers = { ETag: '"v1"', 'Accept-Ranges': 'bytes' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && b !== 'no-range') {
      const start = Number(range[1]);
      if (start >= payload.length) return void res.writeHead(416, { 'Content-Range': `bytes */${payload.length}` }).end();
      res.writeHead(206, { ...headers, 'Content-Length': payload.length - start, 'Content-Range': `bytes ${start}-${payload.length - 1}/${payload.length}` });
      return void res.end(payload.subarray(start));
    }
    res.writeHead(200, { ...headers, 'Content-Length': payload.length });
    if ((b === 'break-once' || b === 'no-range') && broken++ === 0) {
      return void res.write(payload.subarray(0, half), () => setTimeout(() => res.socket?.end(), 100));
    }
    if (b === 'stall' && broken++ === 0) {
      // Half the body, then silence: the client must be the one to stop.
      return void res.write(payload.subarray(0, half), () => stalledResolve());
    }
    res.end(payload);
  });
  state.origin = await listen(server);
  state.reset();
  return state;
}

/** A forward proxy for http:// URLs on 127.0.0.1, and the URLs it forwarded. */
export interface ForwardProxy {
  url: string;
  forwarded: string[];
  close(): Promise<void>;
}

/** Starts a {@link ForwardProxy}: absolute-URI requests to 127.0.0.1 are forwarded (adding `Via`), anything else refused. */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const forwarded: string[] = [];
  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      return void res.writeHead(400).end('a forward proxy takes absolute URLs');
    }
    if (target.protocol !== 'http:' || target.hostname !== '127.0.0.1') return void res.writeHead(403).end('only http://127.0.0.1 here');
    forwarded.push(target.href);
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, via: '1.1 test-proxy' } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  // Tunnels are not offered: the downloader sends plain-HTTP URLs as absolute-URI requests.
  server.on('connect', (_req, socket) => socket.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n'));
  const url = await listen(server);
  return { url, forwarded, close: () => close(server) };
}
