/**
 * PyTorch habits on the module tree, without running a network: assigning a child re-registers it
 * (`model.fc = new Linear(…)`, PyTorch's `__setattr__`) and everything that reads the tree follows (state
 * dict, printed form, trace, ONNX export, version); null removes; bad values and cycles throw typed errors;
 * `setSubmodule`; `Sequential` item assignment; `Identity`; `console.log(model)` prints the PyTorch repr;
 * `using` and `dispose()` release through the executor seam; `macsPerSample` and the forward/warmup
 * option checks give typed errors.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchNorm2d, Conv2d, Generator, Identity, Linear, Module, ReLU, Sequential, Tensor, Tracer, macsPerSample, resnet18, resnet50,
  setForwardExecutor, toOnnxBytes, type ForwardExecutor, type TraceValue,
} from '../../lib/index.js';
import { compiledExecutor } from '../../lib/compile/executor.js';

function caught(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

afterEach(() => setForwardExecutor(compiledExecutor));

describe('assigning a child re-registers it (nn.Module.__setattr__)', () => {
  it('model.fc = new Linear(2048, 10): state dict, repr, trace, version and ONNX export follow', () => {
    const head = new Linear(2048, 10, { generator: new Generator(2) });
    const model = resnet50({ generator: new Generator(1) }); // built after the head: the head's stamps are older
    const before = model.version;
    model.fc = head;

    expect(model.fc).toBe(head);
    expect(model.getSubmodule('fc')).toBe(head);
    const state = model.stateDict();
    expect(state['fc.weight']!.shape).toEqual([10, 2048]);
    expect(state['fc.bias']!.shape).toEqual([10]);
    expect(state['fc.weight']).toBe(head.weight);
    expect(Object.keys(state).at(-1)).toBe('fc.bias'); // the child keeps its place: keys in PyTorch's order
    expect(model.numParameters()).toBe(25_557_032 - 2_049_000 + 20_490);
    expect(model.version).toBeGreaterThan(before);
    expect(String(model).endsWith('(fc): Linear(in_features=2048, out_features=10, bias=True)\n)')).toBe(true);
    expect(Tracer.trace(model, [3, 64, 64]).output.shape).toEqual([10]);

    // The exporter reads the tree: the ONNX file holds the new head's weight, not the old 1000-class one.
    const onnx = Buffer.from(toOnnxBytes(model, { inputShape: [3, 64, 64] }));
    const bytesOf = (t: Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, 64);
    expect(onnx.includes(bytesOf(head.weight))).toBe(true);
  });

  it('layer4, conv1 and avgpool can be replaced too, and loadStateDict fills the new children', () => {
    const model = resnet18({ generator: new Generator(3) });
    model.conv1 = new Conv2d(1, 64, 7, { stride: 2, padding: 3, bias: false }); // grey-scale stem
    model.layer4 = new Sequential(new Conv2d(256, 512, 3, { stride: 2, padding: 1 }), new ReLU());
    model.setSubmodule('avgpool', new Identity()); // any Module, as PyTorch allows; setSubmodule types it
    model.fc = new Linear(512 * 2 * 2, 5);
    const trace = Tracer.trace(model, [1, 64, 64]);
    expect(trace.output.shape).toEqual([5]);
    expect(model.stateDict()['conv1.weight']!.shape).toEqual([64, 1, 7, 7]);
    expect(model.stateDict()['layer4.0.bias']!.shape).toEqual([512]);
    expect(Object.keys(model.stateDict()).filter((k) => k.startsWith('layer4.'))).toEqual(['layer4.0.weight', 'layer4.0.bias']);

    const donor = resnet18({ generator: new Generator(4) });
    donor.conv1 = new Conv2d(1, 64, 7, { stride: 2, padding: 3, bias: false });
    donor.layer4 = new Sequential(new Conv2d(256, 512, 3, { stride: 2, padding: 1 }), new ReLU());
    donor.setSubmodule('avgpool', new Identity());
    donor.fc = new Linear(512 * 2 * 2, 5);
    model.loadStateDict(donor.stateDict());
    expect(Array.from(model.fc.weight.data)).toEqual(Array.from(donor.fc.weight.data));
  });

  it('a block’s empty downsample slot takes a module later, in PyTorch’s key order', () => {
    const model = resnet18();
    const block = model.layer1[1] as unknown as { downsample: Module | null };
    expect(block.downsample).toBeNull();
    expect(Object.keys(model.stateDict()).some((k) => k.startsWith('layer1.1.downsample'))).toBe(false);
    block.downsample = new Sequential(new Conv2d(64, 64, 1, { bias: false }), new BatchNorm2d(64));
    const keys = Object.keys(model.stateDict()).filter((k) => k.startsWith('layer1.1.'));
    expect(keys.slice(-6)).toEqual([
      'layer1.1.downsample.0.weight', 'layer1.1.downsample.1.weight', 'layer1.1.downsample.1.bias',
      'layer1.1.downsample.1.running_mean', 'layer1.1.downsample.1.running_var', 'layer1.1.downsample.1.num_batches_tracked',
    ]);
    const nodes = Tracer.trace(model, [3, 32, 32]).nodes.filter((n) => n.path.startsWith('layer1.1.downsample'));
    expect(nodes.map((n) => n.op)).toEqual(['conv2d', 'batch_norm2d']);
  });

  it('Sequential items are assignable: model.layer1[0] = block', () => {
    const model = resnet18();
    const replacement = new Sequential(new Conv2d(64, 64, 3, { padding: 1 }), new ReLU());
    model.layer1[0] = replacement;
    expect(model.layer1[0]).toBe(replacement);
    expect(model.layer1.at(0)).toBe(replacement);
    expect([...model.layer1][0]).toBe(replacement);
    expect(model.stateDict()['layer1.0.0.weight']!.shape).toEqual([64, 64, 3, 3]);
    expect('layer1.0.conv1.weight' in model.stateDict()).toBe(false);
    expect(Tracer.trace(model, [3, 32, 32]).nodes.filter((n) => n.path.startsWith('layer1.0.')).map((n) => n.path))
      .toEqual(['layer1.0.0', 'layer1.0.1']);
  });

  it('null removes a child: gone from the state dict, children and repr; forward-tracing it says what to do', () => {
    const model = resnet18();
    model.fc = null as never;
    expect(model.fc).toBeNull();
    expect(Object.keys(model.stateDict()).some((k) => k.startsWith('fc.'))).toBe(false);
    expect(model.namedChildren().map(([n]) => n)).not.toContain('fc');
    expect(String(model)).not.toContain('(fc)');
    const error = caught(() => Tracer.trace(model, [3, 32, 32]));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toBe(
      'ResNet: the forward pass calls ResNet.fc, which is null (assigned null, or never set); assign a Module to it (new Identity() passes the input through)',
    );
    expect(caught(() => model.getSubmodule('fc')).message).toMatch(/ResNet\.fc is null/);
    // Identity is PyTorch's way to drop the head: the model then returns its pooled features.
    model.fc = new Identity() as never;
    expect(Tracer.trace(model, [3, 32, 32]).output.shape).toEqual([512]);
    expect(String(model).endsWith('(fc): Identity()\n)')).toBe(true);
  });

  it('a value that is not a Module or null, or a cycle, throws a typed error and changes nothing', () => {
    const model = resnet18();
    const fc = model.fc;
    const version = model.version;
    for (const bad of [42, 'fc', {}, new Linear(2, 2).weight, undefined]) {
      const error = caught(() => {
        (model as unknown as Record<string, unknown>).fc = bad;
      });
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(/^Expected a Module or null .* for ResNet\.fc but received/);
    }
    const cycle = caught(() => {
      (model.layer1[0] as unknown as { conv1: Module }).conv1 = model;
    });
    expect(cycle.code).toBe('ERR_INVALID_ARGUMENT');
    expect(cycle.message).toMatch(/cycle/);
    expect(model.fc).toBe(fc);
    expect(model.version).toBe(version);
  });

  it('delete removes a child (PyTorch’s del) and a later assignment registers again', () => {
    const model = resnet18();
    const version = model.version;
    expect(delete (model as unknown as Record<string, unknown>).fc).toBe(true);
    expect(Object.keys(model.stateDict()).some((k) => k.startsWith('fc.'))).toBe(false);
    expect(model.version).toBeGreaterThan(version);
    expect(model.fc).toBeNull();
    model.fc = new Linear(512, 3);
    expect(model.stateDict()['fc.weight']!.shape).toEqual([3, 512]);
    expect(Tracer.trace(model, [3, 32, 32]).output.shape).toEqual([3]);
  });

  it('a child registered from a class field initialiser still re-registers on assignment, checked at next use', () => {
    class Head extends Module {
      fc = this.registerModule('fc', new Linear(4, 2));
      override trace(t: Tracer, x: TraceValue): TraceValue {
        return t.call(this.fc, x);
      }
    }
    const head = new Head();
    expect(head.stateDict()['fc.weight']!.shape).toEqual([2, 4]);
    const version = head.version;
    const replacement = new Linear(4, 3);
    head.fc = replacement; // the field's own property, not the accessor: taken up at the next use
    expect(head.stateDict()['fc.weight']).toBe(replacement.weight);
    expect(head.version).toBeGreaterThan(version);
    expect(Tracer.trace(head, [4]).output.shape).toEqual([3]);
    // That use put the accessor back: from now on an assignment is checked at once.
    const error = caught(() => {
      (head as unknown as { fc: unknown }).fc = 'not a module';
    });
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/for Head\.fc but received "not a module"/);
    head.fc = new Linear(4, 5);
    expect(Tracer.trace(head, [4]).output.shape).toEqual([5]);
    // Before any use, the field's plain property takes a bad value silently; the next use reports it.
    const fresh = new Head();
    (fresh as unknown as { fc: unknown }).fc = 7;
    expect(caught(() => fresh.stateDict()).message).toMatch(/for Head\.fc but received 7/);
  });

  it('a module of the wrong size is accepted (as PyTorch) and tracing names the layer and the shapes', () => {
    const model = resnet50();
    model.fc = new Linear(512, 10);
    const error = caught(() => Tracer.trace(model, [3, 64, 64]));
    expect(error.code).toBe('ERR_INVALID_SHAPE');
    expect(error.message).toBe('Linear (in fc): expected input [N, 512] but received [N, 2048]');
  });

  it('setSubmodule takes dotted paths and any Module; bad paths name the children', () => {
    const model = resnet18();
    const head = new Sequential(new Linear(512, 64), new ReLU(), new Linear(64, 3));
    model.setSubmodule('fc', head);
    expect(model.getSubmodule('fc')).toBe(head);
    const conv = new Conv2d(64, 64, 3, { padding: 1, bias: false });
    model.setSubmodule('layer1.1.conv2', conv);
    expect((model.layer1[1] as unknown as { conv2: Conv2d }).conv2).toBe(conv);
    expect(Tracer.trace(model, [3, 32, 32]).output.shape).toEqual([3]);
    const unknown = caught(() => model.setSubmodule('layer1.1.conv9', conv));
    expect(unknown.code).toBe('ERR_INVALID_ARGUMENT');
    expect(unknown.message).toMatch(/BasicBlock has no child module `conv9`.*its children are conv1, bn1, relu, conv2, bn2, downsample/);
    expect(caught(() => model.setSubmodule('layer9.fc', conv)).message).toMatch(/ResNet has no attribute `layer9`/);
  });

  it('registerModule refuses a name that is already a method or property, as PyTorch’s add_module', () => {
    class Bad extends Module {
      constructor(name: string) {
        super();
        this.registerModule(name, new ReLU());
      }
      override trace(_t: Tracer, x: TraceValue): TraceValue {
        return x;
      }
    }
    for (const name of ['forward', 'training', 'version', 'dispose']) {
      const error = caught(() => new Bad(name));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(new RegExp(`attribute "${name}" already exists`));
    }
    expect(new Bad('head').namedChildren().map(([n]) => n)).toEqual(['head']);
  });

  it('a child a module calls without registering it gets a typed error that says how to register it', () => {
    class Unregistered extends Module {
      readonly inner = new ReLU();
      override trace(t: Tracer, x: TraceValue): TraceValue {
        return t.call(this.inner, x);
      }
    }
    const error = caught(() => Tracer.trace(new Unregistered(), [3, 4, 4]));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/Unregistered: the forward pass calls a ReLU that is not a registered child; register it .*registerModule/);
  });
});

describe('printing, disposing', () => {
  it('console.log / util.inspect print the PyTorch repr, as String(model)', () => {
    const model = resnet18();
    expect(inspect(model)).toBe(String(model));
    expect(inspect({ model: new Linear(3, 2) })).toBe('{ model: Linear(in_features=3, out_features=2, bias=True) }');
  });

  it('dispose() and `using` release every module of the tree through the executor; the module stays usable', () => {
    const released: Module[] = [];
    const recording: ForwardExecutor = {
      forward: async () => Tensor.zeros([1]),
      release: (m) => void released.push(m),
    };
    setForwardExecutor(recording);
    const model = resnet18();
    model.dispose();
    expect(released.length).toBe(model.modules().length);
    expect(new Set(released)).toEqual(new Set(model.modules()));
    released.length = 0;
    {
      using scoped = resnet18();
      expect(released.length).toBe(0);
      void scoped;
    }
    expect(released.length).toBe(resnet18().modules().length);
    expect(model.stateDict()['fc.weight']!.shape).toEqual([1000, 512]); // nothing of the module itself was freed
  });
});

describe('typed errors for bad arguments', () => {
  it('macsPerSample takes a Module (default 224×224) or a Trace; anything else is ERR_INVALID_ARGUMENT', () => {
    const model = resnet50();
    // The usual figure, counted independently: convs and fc of ResNet-50 at 224 (DESIGN.md: ≈ 4.1 GMAC).
    expect(macsPerSample(model)).toBe(macsPerSample(Tracer.trace(model, [3, 224, 224])));
    expect(macsPerSample(model)).toBe(4_089_184_256);
    expect(macsPerSample(model, [3, 112, 112])).toBe(macsPerSample(Tracer.trace(model, [3, 112, 112])));
    for (const bad of [undefined, null, {}, 42, [3, 224, 224]]) {
      const error = caught(() => macsPerSample(bad as never));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(/Expected a Module \(macsPerSample\(model, \[3, 224, 224\]\)\) or a Trace/);
    }
    for (const bad of [224, [3, -1, 224], ['3', 224, 224], []]) {
      expect(caught(() => macsPerSample(model, bad as never)).code).toBe('ERR_INVALID_ARGUMENT');
    }
    expect(caught(() => macsPerSample(model, [4, 224, 224])).code).toBe('ERR_INVALID_SHAPE');
  });

  it('forward and warmup options: unknown keys name the valid ones; bad signals and batch sizes are typed', async () => {
    const model = resnet18();
    const x = Tensor.zeros([1, 3, 32, 32]);
    const unknown = await rejected(model.forward(x, { signl: new AbortController().signal } as never));
    expect(unknown.code).toBe('ERR_INVALID_ARGUMENT');
    expect(unknown.message).toBe('forward: unknown option "signl"; the options are signal');
    expect((await rejected(model.forward(x, { signal: {} as never }))).message).toMatch(/Expected an AbortSignal for forward options.signal/);
    expect((await rejected(model.forwardNodes(x, ['layer1'], { timeout: 1 } as never))).message).toMatch(/forwardNodes: unknown option "timeout"/);

    const cases: [unknown, RegExp][] = [
      [undefined, /Expected an options object/],
      [{}, /Expected a non-empty array of batch sizes for warmup options.batchSizes/],
      [{ batchSizes: [] }, /non-empty array/],
      [{ batchSizes: [1, 0] }, /Expected an integer from 1 to 65536 for warmup options.batchSizes\[1\] but received 0/],
      [{ batchSizes: [2.5] }, /batchSizes\[0\] but received 2.5/],
      [{ batchSizes: ['8'] }, /batchSizes\[0\] but received "8"/],
      [{ batchSizes: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, /9 batch sizes given, but a module keeps at most 8 compiled/],
      [{ batchSizes: [1], runs: -1 }, /options.runs/],
      [{ batchSizes: [1], dtype: 'int8' }, /options.dtype/],
      [{ batchSizes: [1], batch: 4 }, /warmup: unknown option "batch"; the options are batchSizes, size, channels, dtype, layout, runs, signal/],
      [{ batchSizes: [1], signal: 'abort' }, /Expected an AbortSignal/],
    ];
    for (const [options, message] of cases) {
      const error = await rejected(model.warmup(options as never));
      expect(error.code).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(message);
    }
  });
});
