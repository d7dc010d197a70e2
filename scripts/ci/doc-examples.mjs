// Type-checks every ```ts block of an `@example` tag in lib/ against the library itself, so that the API reference's
// examples cannot drift from the API. Each block becomes a module of its own in a scratch folder, where
// 'resnet-cudnn' and 'resnet-cudnn/server' resolve to lib/; a block without imports (a method's example)
// continues its owner's example and gets the names it uses declared (`declared` below). Exit 1 on any error.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = path.join(root, 'lib');

/** What the import-less examples refer to, by the file they are in. */
const declared = {
  'runtime/engine.ts': "import { compileGraph, type Graph } from 'resnet-cudnn';\ndeclare const graph: Graph;\ndeclare const pixels: Uint8Array;\n",
};

/** The example blocks of one source file: the lines of each ```ts fence after an `@example` tag. */
function examplesOf(source) {
  const blocks = [];
  for (const match of source.matchAll(/@example\n((?:[ \t]*\*.*\n)+?)[ \t]*\*\//g)) {
    const text = match[1].split('\n').map((line) => line.replace(/^[ \t]*\* ?/, '')).join('\n');
    const fence = /```ts\n([\s\S]*?)```/.exec(text);
    if (fence) blocks.push(fence[1]);
  }
  return blocks;
}

const scratch = mkdtempSync(path.join(tmpdir(), 'doc-examples-'));
try {
  let count = 0;
  for (const file of readdirSync(lib, { recursive: true }).filter((f) => f.endsWith('.ts')).sort()) {
    const relative = file.split(path.sep).join('/');
    examplesOf(readFileSync(path.join(lib, file), 'utf8')).forEach((code, i) => {
      const prelude = /^import /m.test(code) ? '' : (declared[relative] ?? '');
      const name = `${relative.replace(/[/.]/g, '_')}_${i}.ts`;
      writeFileSync(path.join(scratch, name), `// lib/${relative}, @example ${i + 1}\n${prelude}${code}\nexport {};\n`);
      count++;
    });
  }
  writeFileSync(path.join(scratch, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true,
      types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
      paths: { 'resnet-cudnn': [path.join(lib, 'index.ts')], 'resnet-cudnn/server': [path.join(lib, 'server', 'index.ts')] },
    },
    include: ['*.ts'],
  }));
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', scratch], { stdio: 'pipe' });
  } catch (error) {
    process.stdout.write(String(error.stdout));
    console.error(`doc-examples: the examples above do not type-check (each file's first line names its source)`);
    process.exit(1);
  }
  console.log(`doc-examples: ${count} examples type-check`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
