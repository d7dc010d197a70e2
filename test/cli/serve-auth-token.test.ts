/**
 * The bearer token kept out of `ps`: `--auth-token-file FILE` and a config file's `authTokenFile` (read by
 * readTokenFile: one trailing line break dropped; empty, unreadable, oversized or malformed files refused
 * without echoing their text), `RESNET_SERVE_AUTH_TOKEN`, and the warning `resnet serve` prints for
 * `--auth-token`. In process, then the compiled command in a child process (skipped, saying why, without
 * `npm run build:ts`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { commandLineTokenWarning, serveOptions, tokenFromFileFlag } from '../../lib/cli/serve-options.js';
import { UsageError } from '../../lib/cli/outcome.js';
import { readConfigFile } from '../../lib/server/config-file.js';
import { maxTokenFileBytes, readTokenFile } from '../../lib/server/token-file.js';
import { cli, cliBuilt, resnet } from '../helpers/cli-runner.js';
import { killServers, serve } from '../helpers/serve-process.js';

if (!cliBuilt) console.log(`serve-auth-token: the command's cases skipped, ${cli} is missing (run npm run build:ts)`);

const temp = mkdtempSync(join(tmpdir(), 'resnet-serve-token-'));

function file(name: string, content: string | Buffer): string {
  const path = join(temp, name);
  writeFileSync(path, content);
  return path;
}

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(() => { throw new Error('expected a rejection'); }, (error: Error) => error);
}

describe('readTokenFile', () => {
  it('reads the token, dropping one trailing line break', async () => {
    expect(await readTokenFile(file('plain', 's3cret-Token_1'), 'the file')).toBe('s3cret-Token_1');
    expect(await readTokenFile(file('lf', 's3cret\n'), 'the file')).toBe('s3cret');
    expect(await readTokenFile(file('crlf', 's3cret\r\n'), 'the file')).toBe('s3cret');
  });

  it('reads a pipe, as bash\'s <(…) gives', async () => {
    const fifo = join(temp, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const [token] = await Promise.all([readTokenFile(fifo, 'the pipe'), writeFile(fifo, 'from-a-pipe\n')]);
    expect(token).toBe('from-a-pipe');
  });

  it('refuses an empty, missing, oversized, binary or malformed file, naming it and never showing its text', async () => {
    const cases: [string, string | RegExp][] = [
      [file('empty', ''), 'the file is empty: write the token into it (one line)'],
      [file('newline', '\n'), 'the file is empty: write the token into it (one line)'],
      [join(temp, 'missing'), /^Cannot read the file: ENOENT: no such file or directory/],
      [temp, /^Cannot read the file: EISDIR/],
      [file('large', Buffer.alloc(maxTokenFileBytes + 1, 'a')), `the file is over ${maxTokenFileBytes} bytes, far more than a token: is it the right file?`],
      ['/dev/zero', `the file is over ${maxTokenFileBytes} bytes, far more than a token: is it the right file?`],
      [file('latin1', Buffer.from([0x73, 0xe9, 0x63])), 'the file is not UTF-8 text: it should hold the token alone'],
      [file('two-lines', 'first-secret\nsecond-secret\n'),
        'Expected a token of 1 to 4096 visible ASCII characters (no spaces or newlines) for the file but received a string of 26 characters (not shown)'],
      [file('two-newlines', 'one-secret\n\n'),
        'Expected a token of 1 to 4096 visible ASCII characters (no spaces or newlines) for the file but received a string of 11 characters (not shown)'],
    ];
    for (const [path, message] of cases) {
      const error = await failure(readTokenFile(path, 'the file'));
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
      expect(error.message).not.toMatch(/secret/);
    }
  });
});

describe('the token of resnet serve', () => {
  const config = { models: [{ arch: 'resnet20' }], authToken: 'from-config' };

  it('takes --auth-token, else --auth-token-file, else RESNET_SERVE_AUTH_TOKEN, else the config file', async () => {
    const fileToken = await tokenFromFileFlag({ authTokenFile: file('flag-token', 'from-file\n') });
    expect(fileToken).toBe('from-file');
    expect(await tokenFromFileFlag({})).toBeUndefined();
    const env = { RESNET_SERVE_AUTH_TOKEN: 'from-env' };
    expect(serveOptions(config, { authToken: 'from-flag' }, env).authToken).toBe('from-flag');
    expect(serveOptions(config, {}, env, fileToken).authToken).toBe('from-file');
    expect(serveOptions(config, {}, env).authToken).toBe('from-env');
    expect(serveOptions(config, {}, {}).authToken).toBe('from-config');
  });

  it('refuses --auth-token with --auth-token-file as a usage error', async () => {
    const error = await failure(tokenFromFileFlag({ authToken: 'a', authTokenFile: file('both', 'b') }));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe('--auth-token and --auth-token-file both give the token: use one (--auth-token-file keeps it out of ps)');
  });

  it('warns about --auth-token only', () => {
    expect(commandLineTokenWarning({ authToken: 'x' })).toBe('resnet serve: warning: --auth-token puts the token on the command line, where every user '
      + 'of this machine can read it (ps, /proc/PID/cmdline): use --auth-token-file FILE or RESNET_SERVE_AUTH_TOKEN instead');
    expect(commandLineTokenWarning({ authTokenFile: 'f' })).toBeNull();
    expect(commandLineTokenWarning({})).toBeNull();
  });

  it('reads a config file\'s authTokenFile into authToken, and refuses it with authToken or when it holds no token', async () => {
    const tokenPath = file('config-token', 'config-secret\n');
    const withFile = file('with-file.json', JSON.stringify({ models: [{ arch: 'resnet20' }], authTokenFile: tokenPath }));
    expect(await readConfigFile(withFile)).toEqual({ models: [{ arch: 'resnet20' }], authToken: 'config-secret' });
    const label = (path: string) => `config file ${JSON.stringify(path)}`;
    const both = file('both.json', JSON.stringify({ ...config, authTokenFile: tokenPath }));
    expect((await failure(readConfigFile(both))).message)
      .toBe(`${label(both)}: authToken and authTokenFile both give the token: keep one (authTokenFile keeps the token out of this file)`);
    const notPath = file('not-path.json', JSON.stringify({ models: [], authTokenFile: 7 }));
    expect((await failure(readConfigFile(notPath))).message).toBe(`${label(notPath)}: Expected a file path for authTokenFile but received 7`);
    const empty = file('empty.json', JSON.stringify({ authTokenFile: file('empty-token', '') }));
    expect((await failure(readConfigFile(empty))).message)
      .toBe(`the authTokenFile ${JSON.stringify(join(temp, 'empty-token'))} of ${label(empty)} is empty: write the token into it (one line)`);
  });
});

/** The status of GET `path` with `token` (none: no Authorization header). */
async function statusWith(url: string, path: string, token?: string): Promise<number> {
  return (await fetch(url + path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })).status;
}

describe.runIf(cliBuilt)('resnet serve: the token from a file, an environment variable or the command line', () => {
  afterEach(killServers);

  it('serves with --auth-token-file, printing no warning', async () => {
    const server = await serve(['--model', 'resnet20', '--host', '127.0.0.1', '--port', '0', '--auth-token-file', file('serve-token', 'file-token\n')]);
    expect(await statusWith(server.url, '/v2/models/resnet20')).toBe(401);
    expect(await statusWith(server.url, '/v2/models/resnet20', 'file-token')).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.stderr()).toMatch(/^resnet serve: ready on [^\n]*\n$/);
  });

  it('serves with --auth-token, warning on stderr that ps shows it', async () => {
    const server = await serve(['--model', 'resnet20', '--host', '127.0.0.1', '--port', '0', '--auth-token', 'flag-token']);
    expect(await statusWith(server.url, '/v2/models/resnet20', 'flag-token')).toBe(200);
    expect(await statusWith(server.url, '/v2/models/resnet20', 'other')).toBe(401);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(server.stderr().split('\n')[0]).toBe(commandLineTokenWarning({ authToken: 'flag-token' }));
  });

  it('refuses both flags (exit 2) and a token file that cannot be read (exit 1), each with a message', async () => {
    const both = await resnet('serve', '--model', 'resnet20', '--auth-token', 'a', '--auth-token-file', file('cli-both', 'b'));
    expect([both.code, both.stderr]).toEqual([2,
      'resnet: --auth-token and --auth-token-file both give the token: use one (--auth-token-file keeps it out of ps) [ERR_INVALID_ARGUMENT]\n']);
    const missing = join(temp, 'no-such-token');
    const unreadable = await resnet('serve', '--model', 'resnet20', '--auth-token-file', missing);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toMatch(new RegExp(`^resnet: Cannot read --auth-token-file ${JSON.stringify(missing)}: ENOENT`));
  });
});
