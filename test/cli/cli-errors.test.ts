/**
 * How `resnet` commands end when something is wrong, as a user runs them (the compiled CLI in a child
 * process; needs `npm run build:ts`, skipped with a message otherwise): exit 2 for a wrong command line,
 * 1 for a failure, `--json` errors on stdout, the weights names listed, what `convert` wrote, the offline
 * message of `classify` and `serve`, and the packages imported lazily (made missing with a module hook,
 * test/fixtures/hide-packages.mjs). No request leaves 127.0.0.1: the proxies point at a closed local port.
 * In-process: the missing-package mapping and the JSON-flag detection.
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Generator, Linear, Tensor, getCifarModel, saveCheckpoint, type StateDict } from '../../lib/index.js';
import { importWithPackages } from '../../lib/cli/missing-package.js';
import { missingPackageOf } from '../../lib/missing-package.js';
import { buildProgram, wantsJson } from '../../lib/cli/program.js';
import { loadServerModule } from '../../lib/cli/serve.js';
import { cli, cliBuilt, hidingPackages, resnet, resnetWith } from '../helpers/cli-runner.js';

/** The server's optional peers, as lib/server/optional-peers.ts lists them. */
const serverPeers = ['fastify', 'prom-client', '@grpc/grpc-js', '@grpc/proto-loader'];

if (!cliBuilt) console.warn(`test/cli/cli-errors.test.ts: skipped the command runs, ${cli} is missing (run npm run build:ts)`);
// A real JPEG from the repository's fixtures: the download must fail, not the image.
const fixtureJpg = fileURLToPath(new URL('../fixtures/images/exif6.jpg', import.meta.url));
const temp = mkdtempSync(join(tmpdir(), 'resnet-cli-errors-'));

/** The one JSON error a `--json` run prints on stdout, checked for its shape. */
function jsonError(stdout: string): { code: string; message: string } {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const parsed = JSON.parse(lines[0]!) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message']);
  return parsed.error;
}

/** A 127.0.0.1 port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.runIf(cliBuilt)('resnet exit codes', () => {
  it('2 for a wrong command line: unknown option or command, missing argument, bad value; 0 for --version and --help', async () => {
    const runs = await Promise.all([
      resnet('bench', '--bogus'),
      resnet('frobnicate'),
      resnet('classify'),
      resnet('convert', 'only-one.pth'),
      resnet('export', '--out', join(temp, 'x.onnx')),
      resnet('bench', '--iters', 'many'),
      resnet('bench', '--device', 'gpu'),
      resnet('eval-cifar10', '--model', 'resnet50', '--weights', 'w.th', '--data', 'd.bin'),
      resnet('--version'),
      resnet('info', '--help'),
    ]);
    const expected = [
      "error: unknown option '--bogus'",
      "error: unknown command 'frobnicate'",
      "error: missing required argument 'images'",
      "error: missing required argument 'out'",
      "error: required option '-m, --model <name>' not specified",
      'expected a positive integer but received "many"',
      "Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for --device but received \"gpu\"",
      'resnet50 is a torchvision ImageNet network: this command takes the CIFAR-10 networks',
    ];
    expected.forEach((text, i) => {
      expect(runs[i]!.code, text).toBe(2);
      expect(runs[i]!.stderr).toContain(text);
      expect(runs[i]!.stdout).toBe('');
    });
    expect(runs[8]).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(runs[9]).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: resnet info') });
  });

  it('1 for a failure at run time, with one line on stderr', async () => {
    const { code, stderr, stdout } = await resnet('convert', join(temp, 'absent.pth'), join(temp, 'x.safetensors'));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^resnet: Cannot read checkpoint .*absent\.pth.*\[ERR_INVALID_FILE\]$/)]);
  });
});

describe.runIf(cliBuilt)('resnet --json errors', () => {
  it('every command with --json prints {"error":{"code","message"}} on stdout and nothing else, for usage errors and failures', async () => {
    const absent = join(temp, 'absent.th');
    const cases: [string[], number, string, RegExp][] = [
      [['info', '--json', '--bogus'], 2, 'ERR_USAGE', /^unknown option '--bogus'$/],
      [['bench', '--json', '--batch', '0'], 2, 'ERR_USAGE', /argument '0' is invalid. expected a positive integer/],
      [['bench', '--json', '--compare', 'tensorflow'], 2, 'ERR_USAGE', /--compare accepts onnxruntime and pytorch \(comma-separated\) but received "tensorflow"$/],
      [['classify', 'x.jpg', '--json', '-w', 'V9'], 2, 'ERR_INVALID_ARGUMENT', /^Unknown weights "V9" for resnet50 in --weights: choose one of IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT \(= IMAGENET1K_V2\)/],
      [['classify', join(temp, 'absent.png'), '--json', '-m', 'resnet18', '-w', absent], 1, 'ERR_INVALID_FILE', /absent\.png/],
      [['convert', absent, join(temp, 'x.pth'), '--json'], 1, 'ERR_INVALID_FILE', /^Cannot read checkpoint .*absent\.th/],
      [['convert', 'a.pth', 'b.onnx', '--json'], 2, 'ERR_INVALID_ARGUMENT', /^Cannot tell the format of OUT "b\.onnx"/],
      [['eval-cifar10', '--json', '--weights', absent, '--data', 'd.bin'], 1, 'ERR_INVALID_FILE', /absent\.th/],
      [['eval-cifar10', '--json', '--weights', absent], 2, 'ERR_USAGE', /^required option '-d, --data <file>' not specified$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => resnet(...args)));
    cases.forEach(([args, code, errorCode, message], i) => {
      const run = runs[i]!;
      expect(run.code, args.join(' ')).toBe(code);
      const error = jsonError(run.stdout);
      expect(error.code, args.join(' ')).toBe(errorCode);
      expect(error.message, args.join(' ')).toMatch(message);
    });
    // Without --json, stdout stays empty.
    expect((await resnet('convert', absent, join(temp, 'x.pth'))).stdout).toBe('');
  });
});

describe.runIf(cliBuilt)('resnet convert reports what it wrote', () => {
  const state: StateDict = {
    ...new Linear(8, 3, { generator: new Generator(5) }).stateDict(),
    steps: Tensor.from([3n], []),
  };
  const input = join(temp, 'linear.pth');
  beforeAll(async () => saveCheckpoint(state, input));

  it('path, format, tensor count and bytes: as text, and as JSON with --json', async () => {
    const out = join(temp, 'linear.safetensors');
    const text = await resnet('convert', input, out);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`wrote ${out}: safetensors, 3 tensors, ${statSync(out).size} bytes\n`);
    const back = join(temp, 'linear-back.pt');
    const json = await resnet('convert', out, back, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ path: back, format: 'torch', tensors: 3, bytes: statSync(back).size });
  });
});

describe.runIf(cliBuilt)('without network access', () => {
  /** Every proxy variable at a closed 127.0.0.1 port: a download fails there, and nothing leaves the machine. */
  async function offline(): Promise<{ env: NodeJS.ProcessEnv; home: string; proxy: string }> {
    const proxy = `http://127.0.0.1:${await closedPort()}`;
    const home = mkdtempSync(join(temp, 'torch-home-'));
    return {
      home, proxy,
      env: { TORCH_HOME: home, HTTPS_PROXY: proxy, https_proxy: proxy, HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: '', no_proxy: '' },
    };
  }

  const image = fixtureJpg;
  const cached = (home: string) => join(home, 'hub', 'checkpoints', 'resnet18-f37072fd.pth');
  const offlineAdvice = (home: string, proxy: string, instead: string) => new RegExp(
    `^resnet: Cannot download ResNet18_Weights\\.IMAGENET1K_V1 from https://download\\.pytorch\\.org/models/resnet18-f37072fd\\.pth: `
    + `the host cannot be reached from here \\(connect ECONNREFUSED ${proxy.slice('http://'.length)}\\)\\. Download that URL on a machine `
    + `with network access, then put the file at ${cached(home).replace(/[.]/g, '\\.')} .* or ${instead.replace(/[.=]/g, '\\$&')} \\[ERR_DOWNLOAD\\]$`,
  );

  it('classify says to download the URL elsewhere and pass --weights FILE; --json carries it too', async () => {
    const { env, home, proxy } = await offline();
    const run = await resnetWith({ env }, 'classify', image, '-m', 'resnet18', '-w', 'IMAGENET1K_V1');
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe(`Downloading: "https://download.pytorch.org/models/resnet18-f37072fd.pth" to ${cached(home)}`);
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(offlineAdvice(home, proxy, 'pass it with --weights FILE'));
    expect(readdirSync(join(home, 'hub', 'checkpoints'))).toEqual([]);
    const json = await resnetWith({ env }, 'classify', image, '-m', 'resnet18', '--json');
    expect(json.code).toBe(1);
    expect(jsonError(json.stdout)).toMatchObject({ code: 'ERR_DOWNLOAD', message: expect.stringContaining('--weights FILE') });
  });

  it('serve says so before it listens, offering --model ARCH=FILE', async () => {
    const { env, home, proxy } = await offline();
    const run = await resnetWith({ env }, 'serve', '--model', 'resnet18=IMAGENET1K_V1', '--port', '0', '--host', '127.0.0.1');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n').at(-1)).toMatch(offlineAdvice(home, proxy, 'serve it as a file: --model resnet18=FILE'));
  });
});

describe.runIf(cliBuilt)('packages imported only when needed', () => {
  it('other commands run without the server\'s packages: nothing imports the server at startup', async () => {
    const info = await resnetWith(hidingPackages([...serverPeers, '/dist/server/server.js', '/dist/server/app.js']), 'info', '--json');
    expect(info.stderr).toBe('');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).backends.cpu.library).toBe('oneDNN');
    const weights = join(temp, 'r20.th');
    await saveCheckpoint(getCifarModel('resnet20', { generator: new Generator(2) }).stateDict(), weights);
    const convert = await resnetWith(hidingPackages(serverPeers), 'convert', weights, join(temp, 'r20.safetensors'));
    expect(convert.code).toBe(0);
  });

  it('serve names the npm command when fastify, prom-client or a gRPC package is missing, before anything starts', async () => {
    for (const hidden of ['fastify', 'prom-client', '@grpc/grpc-js', '@grpc/proto-loader']) {
      const run = await resnetWith(hidingPackages([hidden]), 'serve', '--model', 'resnet20', '--port', '0', '--host', '127.0.0.1');
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`resnet: resnet serve needs fastify, prom-client, @grpc/grpc-js and @grpc/proto-loader, and ${hidden} is not installed: `
        + 'npm i fastify prom-client @grpc/grpc-js @grpc/proto-loader [ERR_MISSING_DEPENDENCY]\n');
    }
  });

  it('a missing commander or cli-progress is named too', async () => {
    const commander = await resnetWith(hidingPackages(['commander']), 'info');
    expect(commander).toMatchObject({ code: 1, stdout: '', stderr: 'resnet: the resnet command needs commander, and commander is not installed: npm i commander\n' });
    const progress = await resnetWith(hidingPackages(['cli-progress']), 'info');
    expect(progress).toMatchObject({ code: 1, stdout: '', stderr: 'resnet: the resnet command needs cli-progress, and cli-progress is not installed: npm i cli-progress\n' });
  });
});

describe('missing packages, in process', () => {
  const notFound = (name: string) => Object.assign(new Error(`Cannot find package '${name}' imported from /x/dist/cli/serve.js`), { code: 'ERR_MODULE_NOT_FOUND' });

  it('missingPackageOf reads ESM and CJS errors, and not a missing file of this package', () => {
    expect(missingPackageOf(notFound('fastify'))).toBe('fastify');
    expect(missingPackageOf(Object.assign(new Error("Cannot find module 'prom-client/lib/x'\nRequire stack:"), { code: 'MODULE_NOT_FOUND' }))).toBe('prom-client');
    expect(missingPackageOf(Object.assign(new Error("Cannot find package '@scope/pkg' imported from /a.js"), { code: 'ERR_MODULE_NOT_FOUND' }))).toBe('@scope/pkg');
    expect(missingPackageOf(Object.assign(new Error("Cannot find module '/x/dist/server/server.js' imported from /a.js"), { code: 'ERR_MODULE_NOT_FOUND' }))).toBeNull();
    expect(missingPackageOf(new Error('Cannot find package \'x\''))).toBeNull();
  });

  it('loadServerModule with an importer that cannot find prom-client names the npm command; others pass through', async () => {
    const seen: string[] = [];
    const importer = async (specifier: string) => {
      seen.push(specifier);
      if (specifier === 'prom-client') throw notFound('prom-client');
      return {};
    };
    await expect(loadServerModule(importer)).rejects.toMatchObject({
      code: 'ERR_MISSING_DEPENDENCY',
      message: 'resnet serve needs fastify, prom-client, @grpc/grpc-js and @grpc/proto-loader, and prom-client is not installed: '
        + 'npm i fastify prom-client @grpc/grpc-js @grpc/proto-loader',
    });
    expect(seen).toEqual(['fastify', 'prom-client']);
    // With the gRPC endpoint off, the gRPC packages are neither imported nor named.
    seen.length = 0;
    const withoutGrpc = async (specifier: string) => {
      seen.push(specifier);
      if (specifier.startsWith('@grpc/')) throw notFound(specifier);
      return {};
    };
    await expect(loadServerModule(withoutGrpc, false)).resolves.toBeDefined();
    expect(seen).toEqual(['fastify', 'prom-client']);
    await expect(loadServerModule(withoutGrpc, true)).rejects.toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', message: expect.stringMatching(/@grpc\/grpc-js is not installed/) });
    const broken = new SyntaxError('Unexpected token');
    await expect(importWithPackages('x', ['a'], async () => { throw broken; }, async () => ({}))).rejects.toBe(broken);
  });

  it('wantsJson: only for a subcommand that has --json, and not after "--"', () => {
    const program = buildProgram();
    expect(wantsJson(program, ['convert', 'a', 'b', '--json'])).toBe(true);
    expect(wantsJson(program, ['info', '--json'])).toBe(true);
    expect(wantsJson(program, ['serve', '--json'])).toBe(false);
    expect(wantsJson(program, ['classify', '--', '--json'])).toBe(false);
    expect(wantsJson(program, ['--json'])).toBe(false);
  });
});
