// @ts-check
/**
 * The server under test as a child process (`node dist/cli/main.js serve …`): started on a free
 * 127.0.0.1 port, awaited until `/v2/health/ready` (and its one plain line, `resnet serve: ready on …`, which
 * names each model's device and image decoder), stopped with SIGTERM (its graceful shutdown) and, past a
 * deadline, SIGKILL. The child is also killed when this process exits any other way.
 * @module
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Asks the kernel for a free port: `--port 0` would work too, but at `--log-level warn` the server does
 * not log where it listens, and a port chosen here keeps this independent of the log format. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `resnet serve` with `args` (the port and host are added) and resolves once it is ready.
 * @param {string[]} args
 * @param {{ readyTimeoutMs: number; log: (line: string) => void }} options
 */
export async function startServer(args, options) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The last lines of its output, for the error when it dies; bounded so a chatty server cannot grow it.
  /** @type {string[]} */
  const tail = [];
  // Its first lines too: a server that refuses its flags says why first, then prints its whole help.
  /** @type {string[]} */
  const head = [];
  let lines = 0;
  /** The server's readiness line, kept apart from the tail (which later lines may push it out of). */
  let readyLine = '';
  /** @param {Buffer} chunk */
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      if (line.startsWith('resnet serve: ready on ')) readyLine = line;
      lines++;
      if (head.length < 3) head.push(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  /** The first lines that the tail no longer holds, and how many more are left out. */
  const beforeTail = () => {
    const gone = lines - tail.length;
    const shown = head.slice(0, Math.min(head.length, gone));
    return gone > shown.length ? [...shown, `… (${gone - shown.length} lines left out)`] : shown;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  /** @type {{ code: number | null; signal: string | null } | null} */
  let exited = null;
  const exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const killOnExit = () => {
    if (exited === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const server = {
    url,
    pid: /** @type {number} */ (child.pid),
    /** The server's output: its first lines when they are no longer among the last 40, then those. */
    tail: () => [...beforeTail(), ...tail].join('\n'),
    /** How the server exited, or null while it runs (the soak tells a crash from its own stop by this). */
    exitStatus: () => /** @type {{ code: number | null; signal: string | null } | null} */ (exited),
    /** `resnet serve: ready on URL: model (device, images: decoder), …`; '' until it is printed. */
    readyLine: () => readyLine,
    /** Resident memory from /proc (Linux), when `/metrics` lacks it. */
    rssBytes() {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : NaN;
      } catch {
        return NaN;
      }
    },
    /**
     * SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended.
     * @param {number} graceMs
     * @returns {Promise<{ code: number | null; signal: string | null; killed: boolean }>}
     */
    async stop(graceMs) {
      process.off('exit', killOnExit);
      if (exited !== null) return { ...exited, killed: false };
      child.kill('SIGTERM');
      /** @type {NodeJS.Timeout | undefined} */
      let grace;
      const timer = new Promise((resolve) => { grace = setTimeout(() => resolve(null), graceMs); });
      const ended = await Promise.race([exit, timer]);
      // A pending grace timer would keep the caller's process alive that long after the server has gone.
      clearTimeout(grace);
      if (ended !== null) return { ...ended, killed: false };
      child.kill('SIGKILL');
      return { .../** @type {{ code: number | null; signal: string | null }} */ (await exit), killed: true };
    },
  };

  const deadline = Date.now() + options.readyTimeoutMs;
  options.log(`started resnet serve (pid ${child.pid}) on ${url}; waiting for /v2/health/ready`);
  for (;;) {
    if (exited !== null) {
      process.off('exit', killOnExit);
      throw new Error(`resnet serve exited (${JSON.stringify(exited)}) before it was ready:\n${server.tail()}`);
    }
    if (Date.now() > deadline) {
      await server.stop(2000);
      throw new Error(`resnet serve was not ready within ${options.readyTimeoutMs} ms:\n${server.tail()}`);
    }
    try {
      const res = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) {
        // The line follows readiness at once (an older server prints none: then give up after 2 s).
        for (let i = 0; i < 20 && readyLine === '' && exited === null; i++) await sleep(100);
        return server;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
}
