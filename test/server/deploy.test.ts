/**
 * deploy/: the Dockerfiles and the KServe manifests agree with the server they deploy. Docker and a cluster
 * are not needed: the files are read as text, and what they name (probe paths, ports, flags, the model
 * spec, where the addon is copied) is checked against the real server (`createServer` + `app.inject`),
 * its defaults (`serverDefaults`) and the flags `resnet serve --help` lists (the compiled CLI).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type InferenceServer } from '../../lib/server/index.js';
import { parseModelSpec } from '../../lib/server/options.js';
import { serverDefaults } from '../../lib/server/types.js';
import { dockerInstructions, parseYaml, type Instruction, type YamlValue } from '../helpers/deploy-files.js';

const root = new URL('../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const cli = `${root}dist/cli/main.js`;
const built = existsSync(cli);
if (!built) console.warn(`test/deploy.test.ts: the flag checks are skipped, ${cli} is missing (run npm run build)`);

type Obj = { [key: string]: YamlValue };
const obj = (v: YamlValue | undefined): Obj => {
  if (v === undefined || typeof v === 'string' || Array.isArray(v)) throw new Error(`expected a map, found ${JSON.stringify(v)}`);
  return v;
};
const list = (v: YamlValue | undefined): YamlValue[] => {
  if (!Array.isArray(v)) throw new Error(`expected a list, found ${JSON.stringify(v)}`);
  return v;
};
const str = (v: YamlValue | undefined): string => {
  if (typeof v !== 'string') throw new Error(`expected a scalar, found ${JSON.stringify(v)}`);
  return v;
};

/** The long flags `resnet serve --help` documents. */
async function serveFlags(): Promise<Set<string>> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'serve', '--help'], { timeout: 60_000 });
  return new Set([...stdout.matchAll(/(?:^|[\s,])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]));
}

/** `--flag value` pairs of an argument list (a flag followed by another flag, or last, has no value). */
function flagValues(args: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  args.forEach((a, i) => {
    if (!a.startsWith('--')) return;
    const next = args[i + 1];
    out.set(a, [...(out.get(a) ?? []), next !== undefined && !next.startsWith('--') ? next : '']);
  });
  return out;
}

// One server for every route check: resnet20 (CIFAR) compiles in well under a second.
let server: InferenceServer;
let readyBeforeStart = 0;
beforeAll(async () => {
  server = createServer({ models: [{ arch: 'resnet20' }], logLevel: 'silent', threads: 1 });
  // Before the models load, readiness must say no (the readiness probe holds traffic back) while liveness says yes.
  readyBeforeStart = (await server.app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode;
  await server.start({ listen: false });
});
afterAll(async () => {
  await server?.close();
});

async function status(path: string): Promise<number> {
  return (await server.app.inject({ method: 'GET', url: path })).statusCode;
}

function lastStage(instructions: Instruction[]): Instruction[] {
  const last = Math.max(...instructions.map((i) => i.stage));
  return instructions.filter((i) => i.stage === last);
}

for (const file of ['deploy/Dockerfile', 'deploy/Dockerfile.cuda']) {
  describe(file, () => {
    const instructions = dockerInstructions(read(file));
    const runtime = lastStage(instructions);
    const one = (keyword: string) => {
      const found = runtime.filter((i) => i.keyword === keyword);
      expect(found, `${keyword} in the runtime stage`).toHaveLength(1);
      return found[0]!.args;
    };
    const cmd = JSON.parse(one('CMD')) as string[];

    it('exposes the default ports (HTTP, gRPC) and probes /v2/health/live on HTTP\'s, a route that answers 200', async () => {
      expect(one('EXPOSE')).toBe(`${serverDefaults.port} ${serverDefaults.grpcPort}`);
      const url = /http:\/\/127\.0\.0\.1:(\d+)(\/[\w/]+)/.exec(one('HEALTHCHECK'));
      expect(url).not.toBeNull();
      expect(Number(url![1])).toBe(serverDefaults.port);
      expect(url![2]).toBe('/v2/health/live');
      expect(readyBeforeStart).not.toBe(200);
      expect(await status(url![2]!)).toBe(200);
      expect(cmd.includes('--port')).toBe(false); // the HEALTHCHECK's port is the default one
    });

    it('runs resnet serve as a non-root user, with a model spec the server accepts', () => {
      expect(cmd.slice(0, 2)).toEqual(['resnet', 'serve']);
      expect(runtime.some((i) => i.keyword === 'RUN' && i.args.includes('ln -s /app/dist/cli/main.js /usr/local/bin/resnet'))).toBe(true);
      expect(one('USER')).not.toMatch(/^(root|0)$/);
      const spec = flagValues(cmd).get('--model');
      expect(spec).toEqual(['resnet50=IMAGENET1K_V2']);
      expect(parseModelSpec(spec![0]!)).toMatchObject({ arch: 'resnet50', weights: 'IMAGENET1K_V2' });
    });

    it.runIf(built)('passes only flags that resnet serve --help lists', async () => {
      const flags = await serveFlags();
      expect(flags.has('--model')).toBe(true);
      for (const flag of flagValues(cmd).keys()) expect(flags, flag).toContain(flag);
    });

    it('copies the addon where the loader looks for it, beside dist/ and package.json', () => {
      expect(one('WORKDIR')).toBe('/app');
      const copies = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(' ').at(-1));
      // lib/runtime/native.ts: <package root>/build/Release/resnet_cudnn.node, the root being dist/..
      expect(copies).toEqual(expect.arrayContaining(['./build/Release/resnet_cudnn.node', './dist', './node_modules', './']));
      // The gRPC endpoint reads <package root>/proto/grpc_service.proto (lib/server/grpc/proto.ts).
      expect(runtime.some((i) => i.keyword === 'COPY' && i.args === '--from=build /app/proto ./proto')).toBe(true);
      expect(runtime.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build /app/package.json'))).toBe(true);
    });

    it('sends the build every source path it copies (its .dockerignore lets them through)', () => {
      const allowed = read(`${file}.dockerignore`).split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/\*\*$/, ''));
      const fromContext = instructions
        .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
        .flatMap((i) => i.args.split(' ').slice(0, -1));
      expect(fromContext.length).toBeGreaterThan(0);
      for (const path of fromContext) {
        expect(allowed, path).toContain(path.replace(/^\.\//, ''));
        expect(existsSync(`${root}${path}`), path).toBe(true);
      }
    });

    if (file.endsWith('.cuda')) {
      it('builds with nvcc from a CUDA devel image and runs on a cuDNN 9 runtime image, on the GPU', () => {
        const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
        expect(froms.some((f) => /^nvidia\/cuda:\$\{CUDA_VERSION\}-devel-/.test(f) && f.endsWith(' AS build'))).toBe(true);
        expect(one('FROM')).toMatch(/^nvidia\/cuda:\$\{CUDA_VERSION\}-cudnn-runtime-/);
        expect(flagValues(cmd).get('--device')).toEqual(['cuda']);
        // A CPU-only addon would be a silent failure of this image: the build insists on the CUDA backend.
        expect(instructions.some((i) => i.keyword === 'RUN' && i.args.includes("grep -q 'CUDA (cuDNN) backend built: yes'"))).toBe(true);
        const summary = read('CMakeLists.txt');
        expect(summary).toContain('resnet-cudnn: CUDA (cuDNN) backend built: ${RESNET_CUDA_SUMMARY}');
        expect(summary).toMatch(/set\(RESNET_CUDA_SUMMARY\s+"yes /);
      });
    } else {
      it('builds on Debian bookworm with libdnnl-dev and runs with the runtime library only', () => {
        const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
        expect(froms[0]).toBe('node:20-bookworm AS build');
        expect(froms.at(-1)).toBe('node:20-bookworm-slim');
        const installs = (stage: Instruction[]) => stage.filter((i) => i.keyword === 'RUN' && i.args.includes('apt-get install')).map((i) => i.args).join(' ');
        expect(installs(instructions.filter((i) => i.stage === 0))).toContain('libdnnl-dev');
        expect(installs(runtime)).toContain('libdnnl2');
        expect(installs(runtime)).not.toMatch(/-dev\b|\bg\+\+|\bcmake\b/);
      });
    }
  });
}

describe('deploy/kserve', () => {
  const runtime = obj(parseYaml(read('deploy/kserve/serving-runtime.yaml')));
  const service = obj(parseYaml(read('deploy/kserve/inference-service.yaml')));
  const spec = obj(runtime.spec);
  const container = obj(list(spec.containers)[0]);
  const args = list(container.args).map(str);
  const port = str(obj(list(container.ports)[0]).containerPort);

  it('is a v2 ServingRuntime whose container runs resnet serve on its declared port', () => {
    expect(runtime.apiVersion).toBe('serving.kserve.io/v1alpha1');
    expect(runtime.kind).toBe('ServingRuntime');
    expect(list(spec.protocolVersions)).toContain('v2');
    expect(container.name).toBe('kserve-container');
    expect(list(container.command)).toEqual(['resnet']);
    expect(args[0]).toBe('serve');
    expect(flagValues(args).get('--port')).toEqual([port]);
    expect(port).toBe(String(serverDefaults.port));
    const model = flagValues(args).get('--model');
    expect(model).toHaveLength(1);
    expect(() => parseModelSpec(model![0]!)).not.toThrow();
  });

  it('wires liveness to /v2/health/live and readiness to /v2/health/ready on that port', async () => {
    const live = obj(obj(container.livenessProbe).httpGet);
    const ready = obj(obj(container.readinessProbe).httpGet);
    expect([live.path, live.port]).toEqual(['/v2/health/live', port]);
    expect([ready.path, ready.port]).toEqual(['/v2/health/ready', port]);
    expect(readyBeforeStart).not.toBe(200);
    expect(await status(str(live.path))).toBe(200);
    expect(await status(str(ready.path))).toBe(200);
  });

  it('points Prometheus at the server’s /metrics on the same port', async () => {
    const annotations = obj(spec.annotations);
    expect(annotations['prometheus.kserve.io/port']).toBe(port);
    expect(await status(str(annotations['prometheus.kserve.io/path']))).toBe(200);
  });

  it('asks for resources and runs one compute thread per CPU of its limit, shutting down within the grace period', () => {
    const resources = obj(container.resources);
    const limits = obj(resources.limits);
    expect(obj(resources.requests).cpu).toBeDefined();
    expect(flagValues(args).get('--threads')).toEqual([str(limits.cpu)]);
    const shutdown = Number(flagValues(args).get('--shutdown-timeout-ms')?.[0]);
    expect(shutdown).toBeGreaterThan(0);
    expect(shutdown).toBeLessThan(30_000); // Kubernetes' default terminationGracePeriodSeconds
  });

  it.runIf(built)('passes only flags that resnet serve --help lists', async () => {
    const flags = await serveFlags();
    for (const flag of flagValues(args).keys()) expect(flags, flag).toContain(flag);
  });

  it('has an InferenceService that selects this runtime, one of its formats and its protocol', () => {
    expect(service.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(service.kind).toBe('InferenceService');
    const model = obj(obj(obj(service.spec).predictor).model);
    expect(model.runtime).toBe(obj(runtime.metadata).name);
    const formats = list(spec.supportedModelFormats).map((f) => obj(f).name);
    expect(formats).toContain(obj(model.modelFormat).name);
    expect(list(spec.protocolVersions)).toContain(model.protocolVersion);
  });
});
