/**
 * HTTP at the byte level, for tests of what a server sends before or instead of a normal response: raw
 * bytes written on a connection of their own, everything that comes back until the server closes it, and
 * that parsed into a status, headers and body.
 */
import { connect, type Socket } from 'node:net';

/** What came back on a raw connection. */
export interface RawExchange {
  /** Every byte received, as latin1 text. */
  text: string;
  /** The server closed the connection (rather than the wait running out). */
  closedByServer: boolean;
  /** Milliseconds from connecting to the close (or to the end of the wait). */
  elapsedMs: number;
}

/**
 * Connects to `port` on 127.0.0.1, writes `data` (nothing when empty), and collects what comes back until
 * the server closes the connection or `waitMs` pass.
 */
export function rawExchange(port: number, data: string | Buffer, waitMs = 3000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const settle = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedByServer, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => settle(false), waitMs);
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
    socket.on('end', () => settle(true));
    socket.on('close', () => settle(true));
    // A reset after the answer (the server closing with bytes unread) still counts as the server's close.
    socket.on('error', () => settle(true));
    if (data.length > 0) socket.write(data);
  });
}

/** A response as parsed from raw bytes. */
export interface ParsedResponse {
  status: number;
  /** Header names lowercased. */
  headers: Record<string, string>;
  body: string;
}

/** Parses the first response in `text` (a `100 Continue` before it included, as the first). */
export function parseRawResponse(text: string): ParsedResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status, headers, body: text.slice(end + 4, end + 4 + length) };
}
