// The packaging test's consumer: the files of the empty app that installs the tarball, and the ldd check.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Libraries any glibc Linux running Node has; everything else the prebuild needs must sit beside it.
 * (Node's own binaries link libstdc++ and libgcc_s dynamically, so a machine that runs Node has them.)
 */
export const baseSystemLibraries = [
  'linux-vdso.so', 'ld-linux-x86-64.so', 'ld-linux-aarch64.so', 'libc.so', 'libm.so', 'libdl.so', 'libpthread.so',
  'librt.so', 'libgcc_s.so', 'libstdc++.so',
];

/** What ldd says is wrong with the binaries in `folder`: unresolved libraries, or libraries from outside it. */
export function lddProblems(folder, allowed) {
  const problems = [];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const name of readdirSync(folder)) {
    if (!/\.(node|so)(\.|$)/.test(name)) continue;
    const out = execFileSync('ldd', [path.join(folder, name)], { env, encoding: 'utf8' });
    for (const line of out.split('\n').map((text) => text.trim()).filter(Boolean)) {
      const [library, , resolved] = line.split(/\s+/);
      if (line.includes('not found')) {
        problems.push(`${name}: ${library} not found`);
      } else if (resolved?.startsWith('/') && !resolved.startsWith(`${folder}/`) && !allowed.some((base) => library.startsWith(base))) {
        problems.push(`${name}: ${library} resolves outside the package, to ${resolved}`);
      }
    }
  }
  return problems;
}

// One forward of a seeded resnet18 (10 classes) at 32×32, its logits, the addon it ran on (from the process's
// mappings), and which heavy packages the import pulled in (ESM imports of CommonJS packages land in the same
// require cache, so one check serves both).
const forwardBody = `
const heavy = /[\\\\/]node_modules[\\\\/](fastify|prom-client|pino|@grpc[\\\\/]grpc-js|@grpc[\\\\/]proto-loader|commander|cli-progress|vega|vega-lite|cmake-js)[\\\\/]/;
const model = resnet18({ numClasses: 10, generator: manualSeed(7) });
const input = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
const output = await model.forward(Tensor.from(input, [2, 3, 32, 32]));
const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n');
const addon = maps.map((line) => line.slice(line.indexOf('/'))).find((file) => file.endsWith('resnet_cudnn.node'));
const heavyModules = [...new Set(Object.keys(requireCache).map((file) => heavy.exec(file)?.[1]).filter(Boolean))];
console.log(JSON.stringify({ logits: Array.from(output.data), addon, heavyModules, backend: model.device }));
`;

const serverBody = `
const server = createServer({ models: [{ arch: 'resnet20' }], host: '127.0.0.1', port: 0, logLevel: 'silent' });
await server.start();
const response = await fetch(server.address.url + '/v2/health/ready');
// The gRPC endpoint opened: the package's proto/ shipped and its peers loaded.
const grpc = server.grpcAddress;
await server.close();
if (response.status !== 200) throw new Error('ready answered ' + response.status);
if (grpc === null || !(grpc.port > 0)) throw new Error('no gRPC endpoint: ' + JSON.stringify(grpc));
`;

/** The consumer app's files, by name. */
export function consumerSources() {
  return {
    'forward.mjs': `import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resnet18, Tensor, manualSeed } from 'resnet-cudnn';
const requireCache = createRequire(import.meta.url).cache;
${forwardBody}`,
    'forward.cjs': `const { readFileSync } = require('node:fs');
const { resnet18, Tensor, manualSeed } = require('resnet-cudnn');
const requireCache = require.cache;
(async () => {${forwardBody}})().catch((error) => { console.error(error); process.exit(1); });
`,
    'server.mjs': `import { createServer } from 'resnet-cudnn/server';
${serverBody}`,
    'server.cjs': `const { createServer } = require('resnet-cudnn/server');
(async () => {${serverBody}})().catch((error) => { console.error(error); process.exit(1); });
`,
    'consumer.mts': `import { resnet50, Tensor, type Module, InvalidArgumentError } from 'resnet-cudnn';
const model: Module = resnet50({ numClasses: 10 });
const logits: Tensor = await model.forward(Tensor.from(new Float32Array(3 * 64 * 64), [1, 3, 64, 64]));
const shape: readonly number[] = logits.shape;
export const used = [shape, InvalidArgumentError];
`,
    'server-consumer.mts': `import { createServer, type ServerOptions, type InferenceServer } from 'resnet-cudnn/server';
const options: ServerOptions = { models: [{ arch: 'resnet18' }], port: 0 };
export const server: InferenceServer = createServer(options);
`,
    'consumer.cts': `import resnet = require('resnet-cudnn');
const model: resnet.Module = resnet.resnet18();
export const pending: Promise<resnet.Tensor> = model.forward(resnet.Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));
`,
    'tsconfig.json': tsconfig(['consumer.mts', 'consumer.cts']),
    'tsconfig.server.json': tsconfig(['server-consumer.mts']),
  };
}

/** A strict consumer's tsconfig over `files`, with node's types from the repository's node_modules. */
function tsconfig(files) {
  return `${JSON.stringify({
      compilerOptions: {
        strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noImplicitOverride: true,
        module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022'], types: ['node'],
        typeRoots: [path.resolve(import.meta.dirname, '..', '..', 'node_modules', '@types')], noEmit: true,
        skipLibCheck: false,
      },
      files,
    }, null, 2)}\n`;
}
