/**
 * The weights registry and its downloads into TORCH_HOME (the downloader itself: download.test.ts). Every
 * download is served by a local HTTP server on 127.0.0.1 (closed after the file); nothing reaches the internet.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IMAGENET_CATEGORIES } from '../../lib/data/imagenet-classes.js';
import { serializeCheckpoint } from '../../lib/io/torch-save.js';
import { Linear } from '../../lib/nn/linear.js';
import { Generator } from '../../lib/random.js';
import { getModel } from '../../lib/models/registry.js';
import { resnet18, resnet50 } from '../../lib/models/resnet.js';
import { loadPretrained } from '../../lib/models/pretrained.js';
import {
  ResNet18_Weights, ResNet50_Weights, ResNeXt101_64X4D_Weights, Weights, getModelWeights, getWeight, modelWeights,
} from '../../lib/models/weights.js';
import { codeOf } from '../helpers/helpers.js';
import { dataAbsent, dataPath } from '../helpers/test-data.js';

// A small checkpoint: a Linear's state dict (the download path does not care what is inside).
const tiny = new Linear(64, 32, { generator: new Generator(1) });
const payload = Buffer.from(serializeCheckpoint(tiny.stateDict()));
const sha = createHash('sha256').update(payload).digest('hex');

const requests: { path: string }[] = [];
let server: http.Server;
let origin = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '' });
    res.writeHead(200, { 'Content-Length': payload.length }).end(payload);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

let dir = '';
afterEach(() => {
  requests.length = 0;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  dir = mkdtempSync(join(tmpdir(), 'weights-test-'));
  return dir;
}

const quick = { progress: false, retryDelayMs: 0, timeoutMs: 5000 } as const;

function testWeights(fileName: string, extra: Partial<ConstructorParameters<typeof Weights>[0]> = {}): Weights {
  return new Weights({
    url: `${origin}/models/${fileName}`, enumName: 'ResNet18_Weights', name: 'TEST', modelName: 'resnet18',
    transforms: { cropSize: 224 }, meta: { ...ResNet18_Weights.IMAGENET1K_V1.meta }, ...extra,
  });
}

describe('Weights: download into TORCH_HOME, then the synchronous factory', () => {
  const saved = process.env.TORCH_HOME;
  afterEach(() => {
    if (saved === undefined) delete process.env.TORCH_HOME;
    else process.env.TORCH_HOME = saved;
  });

  it('a custom entry downloads into $TORCH_HOME/hub/checkpoints and loads', async () => {
    const home = freshDir();
    process.env.TORCH_HOME = home;
    const w = testWeights(`tiny-${sha.slice(0, 8)}.pth`);
    const sd = await w.getStateDict({ ...quick });
    expect(existsSync(join(home, 'hub', 'checkpoints', w.fileName))).toBe(true);
    expect([...sd['weight']!.data]).toEqual([...tiny.weight.data]);
    // Now cached: the synchronous read needs no request.
    requests.length = 0;
    expect(Object.keys(w.getCachedStateDict())).toEqual(['weight', 'bias']);
    expect(requests).toHaveLength(0);
  });

  it('resnet18({ weights }) reads a cached checkpoint synchronously; uncached, the error names loadPretrained', async () => {
    const home = freshDir();
    process.env.TORCH_HOME = home;
    const model = resnet18({ numClasses: 1000, generator: new Generator(3) });
    const bytes = Buffer.from(serializeCheckpoint(model.stateDict()));
    const name = `resnet18-${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}.pth`;
    const w = testWeights(name);
    expect(() => resnet18({ weights: w })).toThrow(/loadPretrained\('resnet18', 'TEST'\)/);
    expect(codeOf(() => resnet18({ weights: w }))).toBe('ERR_UNSUPPORTED');
    mkdirSync(join(home, 'hub', 'checkpoints'), { recursive: true });
    writeFileSync(join(home, 'hub', 'checkpoints', name), bytes);
    const loaded = resnet18({ weights: w });
    expect([...loaded.fc.bias!.data]).toEqual([...model.fc.bias!.data]);
    expect(() => resnet18({ weights: w, numClasses: 10 })).toThrow("The parameter 'numClasses' expected value 1000 but got 10 instead.");
  });

  it('loadPretrained downloads into the given folder and builds the model with those weights', async () => {
    const home = freshDir();
    const model = resnet18({ generator: new Generator(4) });
    const bytes = Buffer.from(serializeCheckpoint(model.stateDict()));
    const name = `resnet18-${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}.pth`;
    // This server only serves `payload`; serve the model from a second one-off server.
    const one = http.createServer((_req, res) => res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes));
    await new Promise<void>((r) => one.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(one.address() as AddressInfo).port}/${name}`;
      const w = new Weights({ ...testWeights(name), url, transforms: { cropSize: 224 } });
      const loaded = await loadPretrained('resnet18', w, { ...quick, dir: join(home, 'ckpt') });
      expect([...loaded.conv1.weight.data.subarray(0, 16)]).toEqual([...model.conv1.weight.data.subarray(0, 16)]);
    } finally {
      one.closeAllConnections();
      await new Promise((r) => one.close(r));
    }
  });
});

describe('the registry mirrors torchvision', () => {
  it('names: DEFAULT, plain and qualified strings; wrong names throw torchvision\'s errors', () => {
    expect(ResNet50_Weights.DEFAULT).toBe(ResNet50_Weights.IMAGENET1K_V2);
    expect(ResNet50_Weights.verify('IMAGENET1K_V1')).toBe(ResNet50_Weights.IMAGENET1K_V1);
    expect(ResNet50_Weights.verify('ResNet50_Weights.IMAGENET1K_V2')).toBe(ResNet50_Weights.IMAGENET1K_V2);
    expect(ResNet50_Weights.verify(null)).toBeNull();
    expect(getWeight('ResNet18_Weights.IMAGENET1K_V1')).toBe(ResNet18_Weights.IMAGENET1K_V1);
    expect(String(ResNet50_Weights.IMAGENET1K_V2)).toBe('ResNet50_Weights.IMAGENET1K_V2');
    expect(() => ResNet18_Weights.verify('IMAGENET1K_V2')).toThrow("Unknown value 'IMAGENET1K_V2' for ResNet18_Weights.");
    expect(() => resnet50({ weights: ResNet18_Weights.IMAGENET1K_V1 })).toThrow(
      'Invalid Weight class provided; expected ResNet50_Weights but received ResNet18_Weights.',
    );
    expect(() => getWeight('nonsense')).toThrow("Invalid weight name provided: 'nonsense'.");
    expect(codeOf(() => resnet50({ weights: 'V3' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(() => getModelWeights('resnet9')).toThrow('Unknown model resnet9');
  });

  it('URLs, hash prefixes and transforms (V1: resize 256, V2: 232)', () => {
    const w = ResNet50_Weights.IMAGENET1K_V2;
    expect(w.url).toBe('https://download.pytorch.org/models/resnet50-11ad3fa6.pth');
    expect(w.hashPrefix).toBe('11ad3fa6');
    expect(w.transforms()).toEqual({
      resizeSize: 232, cropSize: 224, interpolation: 'bilinear', antialias: true, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
    });
    expect(ResNet50_Weights.IMAGENET1K_V1.transforms().resizeSize).toBe(256);
    expect(ResNeXt101_64X4D_Weights.DEFAULT.transforms().resizeSize).toBe(232);
    for (const family of Object.values(modelWeights)) {
      for (const entry of family.members()) {
        expect(entry.hashPrefix).toMatch(/^[0-9a-f]{8}$/);
        expect(entry.url.startsWith('https://download.pytorch.org/models/')).toBe(true);
        expect(entry.meta.categories).toBe(IMAGENET_CATEGORIES);
      }
    }
    expect(Object.values(modelWeights).flatMap((f) => f.members())).toHaveLength(17);
  });

  const sharedClasses = dataPath('imagenet', 'imagenet_classes.txt');
  const haveShared = dataAbsent('the ImageNet class-name comparison', sharedClasses) === null;
  describe.skipIf(!haveShared)('categories', () => {
    it('1000 names, the shared file\'s, except torchvision\'s two disambiguations', () => {
      const shared = readFileSync(sharedClasses, 'utf8').split('\n');
      expect(IMAGENET_CATEGORIES).toHaveLength(1000);
      expect(shared).toHaveLength(1000);
      const differ = IMAGENET_CATEGORIES.flatMap((n, i) => (n === shared[i] ? [] : [[i, shared[i], n]]));
      expect(differ).toEqual([[134, 'crane', 'crane bird'], [639, 'maillot', 'maillot tank suit']]);
    });
  });

  // Builds each architecture once (wide_resnet101_2 has 127 M parameters): slow on a small machine.
  it('every entry\'s numParams equals the model\'s parameter count', { timeout: 300_000 }, () => {
    for (const [name, family] of Object.entries(modelWeights)) {
      const counted = getModel(name, { generator: new Generator(0) }).numParameters();
      for (const entry of family.members()) expect(entry.meta.numParams, `${entry}`).toBe(counted);
    }
  });
});
