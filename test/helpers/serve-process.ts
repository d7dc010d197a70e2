/**
 * `resnet serve` as a user runs it: the compiled CLI in a child process, its JSON log lines read as they
 * come, resolved once it logs "server ready". Children still running when a test ends are killed by
 * {@link killServers} (call it in `afterEach`).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cli } from './cli-runner.js';

/** A `resnet serve` child process and what it printed. */
export interface Serving {
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: { msg?: string; [key: string]: unknown }[];
  stderr: () => string;
  /** Resolves when a log line with this `msg` has been printed. */
  logged: (msg: string) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const children: ChildProcessWithoutNullStreams[] = [];

/** Kills (SIGKILL) every child {@link serve} started that is still running. */
export function killServers(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Starts `resnet serve …args` and resolves when it logs "server ready" (rejects if it exits first). With
 * `openFiles`, the server runs under that open-file limit (`ulimit -n`).
 */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}, limits: { openFiles?: number } = {}): Promise<Serving> {
  const command = [process.execPath, cli, 'serve', ...args];
  const child = limits.openFiles === undefined
    ? spawn(command[0]!, command.slice(1), { stdio: 'pipe', env: { ...process.env, ...env } })
    : spawn('bash', ['-c', `ulimit -n ${limits.openFiles} && exec "$0" "$@"`, ...command], { stdio: 'pipe', env: { ...process.env, ...env } });
  children.push(child);
  const logs: Serving['logs'] = [];
  const waiting: { msg: string; resolve: () => void }[] = [];
  const logged = (msg: string) => new Promise<void>((resolve) => {
    if (logs.some((entry) => entry.msg === msg)) resolve();
    else waiting.push({ msg, resolve });
  });
  let stderr = '';
  let pending = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const entry = JSON.parse(line) as Serving['logs'][number];
        logs.push(entry);
        for (const waiter of waiting) if (waiter.msg === entry.msg) waiter.resolve();
        if (entry.msg === 'server ready') resolve({ child, url: entry.address as string, logs, stderr: () => stderr, logged, exited });
      }
    });
    void exited.then(({ code }) => reject(new Error(`resnet serve exited with ${code} before it was ready: ${stderr}`)));
  });
}
