/**
 * Tracing: a module describes its forward pass as calls on a {@link Tracer}, which records a graph
 * of primitive ops with per-sample shapes (the batch dimension is left symbolic). Lowering
 * (`compile/`) fuses that graph for a backend; the ONNX exporter (`io/onnx.ts`) writes it as is.
 * One description of each forward, many consumers (torch.fx's idea, without running any numbers).
 *
 * Shape checks live here, so every consumer reports a bad input the same way, before any native
 * code runs.
 * @module
 */
import { InvalidArgumentError, ShapeError, invalidArgument } from '../errors.js';
import { formatShape } from '../tensor.js';
import type { Module } from './module.js';
import type { Conv2d } from './conv.js';
import type { BatchNorm2d } from './batchnorm.js';
import type { MaxPool2d, AdaptiveAvgPool2d } from './pooling.js';
import type { Linear } from './linear.js';

/** A value flowing through the traced graph: an id and its shape without the batch dimension. */
export interface TraceValue {
  readonly id: number;
  /** Per-sample shape: `[C, H, W]` for feature maps, `[F]` after flatten. */
  readonly shape: readonly number[];
}

interface NodeBase {
  /** Dotted module path of the module that emitted the node (`layer1.0.conv1`), '' for the root. */
  readonly path: string;
  readonly inputs: readonly number[];
  readonly output: number;
}

/** One primitive op of a traced graph. Modules are referenced, not copied: weights are read when lowering. */
export type TraceNode =
  | (NodeBase & { readonly op: 'conv2d'; readonly module: Conv2d })
  | (NodeBase & { readonly op: 'batch_norm2d'; readonly module: BatchNorm2d })
  | (NodeBase & { readonly op: 'relu' })
  | (NodeBase & { readonly op: 'add' })
  | (NodeBase & { readonly op: 'max_pool2d'; readonly module: MaxPool2d })
  | (NodeBase & { readonly op: 'adaptive_avg_pool2d'; readonly module: AdaptiveAvgPool2d })
  | (NodeBase & { readonly op: 'flatten' })
  | (NodeBase & { readonly op: 'linear'; readonly module: Linear });

/** One call of a module during tracing (a torchinfo row): pre-order, so a parent comes before what it calls. */
export interface TraceCall {
  /** Dotted module path ('' for the root). */
  readonly path: string;
  readonly module: Module;
  /** Nesting depth: 0 for the root, 1 for its children, and so on. */
  readonly depth: number;
  /** The value the call returned. */
  readonly output: number;
}

/** The result of tracing a module on an input shape. */
export interface Trace {
  readonly input: TraceValue;
  readonly output: TraceValue;
  /** Every value by id (index = id). */
  readonly values: readonly TraceValue[];
  /** Nodes in execution order (topologically sorted by construction). */
  readonly nodes: readonly TraceNode[];
  /** Output value of every module that was called, by dotted path ('' is the root), for `returnNodes`. */
  readonly moduleOutputs: ReadonlyMap<string, number>;
  /** Every module call, root first, in the order the calls started (a module called twice appears twice). */
  readonly calls: readonly TraceCall[];
}

/**
 * A node before `emit` gives it a path and an output, omitted from each member of the union
 * (a plain `Omit<TraceNode, …>` keeps only the keys that every member shares, losing `module`).
 */
type UnplacedNode<N> = N extends TraceNode ? Omit<N, 'path' | 'output'> : never;

function outSize(size: number, kernel: number, stride: number, pad: number, dilation: number, ceil: boolean): number {
  const span = size + 2 * pad - dilation * (kernel - 1) - 1;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * stride >= size + pad) out--;
  return out;
}

/** Records the primitive ops of a forward pass. Modules call its methods from `trace()`. */
export class Tracer {
  private readonly values: TraceValue[] = [];
  private readonly nodes: TraceNode[] = [];
  private readonly path: string[] = [];
  private readonly parents: Module[] = [];
  private readonly moduleOutputs = new Map<string, number>();
  private readonly calls: { path: string; module: Module; depth: number; output: number }[] = [];

  private value(shape: readonly number[]): TraceValue {
    const v: TraceValue = Object.freeze({ id: this.values.length, shape: Object.freeze([...shape]) });
    this.values.push(v);
    return v;
  }

  private where(): string {
    return this.path.length ? ` (in ${this.path.join('.')})` : '';
  }

  private emit(node: UnplacedNode<TraceNode>, shape: readonly number[]): TraceValue {
    const out = this.value(shape);
    this.nodes.push({ ...node, path: this.path.join('.'), output: out.id } as TraceNode);
    return out;
  }

  private feature(x: TraceValue, op: string): [number, number, number] {
    if (x.shape.length !== 3) {
      throw new ShapeError(
        `${op}${this.where()}: expected a 4-D input [N, C, H, W] but received [N, ${x.shape.join(', ')}]`,
      );
    }
    return x.shape as [number, number, number];
  }

  /**
   * Traces `root` on inputs of per-sample shape `inputShape` (e.g. `[3, 224, 224]`).
   * @throws InvalidArgumentError when `root` is not a Module or `inputShape` not an array of positive
   *   integers; ShapeError when the module cannot take that shape.
   */
  static trace(root: Module, inputShape: readonly number[]): Trace {
    if (typeof (root as Partial<Module> | null)?.trace !== 'function') {
      throw invalidArgument('a Module (resnet50(), new Conv2d(…), …)', 'Tracer.trace module', root);
    }
    // Zero sizes pass: the layers say which one cannot take an empty input (a ShapeError naming it).
    if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalidArgument('a per-sample input shape of non-negative integers, such as [3, 224, 224]', 'Tracer.trace inputShape', inputShape);
    }
    const t = new Tracer();
    const input = t.value(inputShape);
    const call = { path: '', module: root, depth: 0, output: -1 };
    t.calls.push(call);
    t.parents.push(root);
    const output = root.trace(t, input);
    t.parents.pop();
    call.output = output.id;
    t.moduleOutputs.set('', output.id);
    return { input, output, values: t.values, nodes: t.nodes, moduleOutputs: t.moduleOutputs, calls: t.calls };
  }

  /** Calls a child module: keeps the dotted path (for node names and `returnNodes`). */
  call(child: Module | null, x: TraceValue): TraceValue {
    const parent = this.parents[this.parents.length - 1]!;
    if (child === null || typeof child?.trace !== 'function') {
      const slot = child === null ? parent.childName(null) : undefined;
      const what = slot === undefined ? 'a child module that is' : `${parent.constructor.name}.${slot}, which is`;
      throw new InvalidArgumentError(
        `${parent.constructor.name}${this.where()}: the forward pass calls ${what} ${child === null ? 'null (assigned null, or never set)' : 'not a Module'}; assign a Module to it (new Identity() passes the input through)`,
      );
    }
    const name = parent.childName(child);
    if (name === undefined) {
      throw new InvalidArgumentError(
        `${parent.constructor.name}${this.where()}: the forward pass calls a ${child.constructor.name} that is not a registered child; register it in the constructor with this.registerModule(name, module) (or assign it to an attribute registered that way)`,
      );
    }
    this.path.push(name);
    this.parents.push(child);
    const call = { path: this.path.join('.'), module: child, depth: this.path.length, output: -1 };
    this.calls.push(call);
    try {
      const y = child.trace(this, x);
      call.output = y.id;
      this.moduleOutputs.set(call.path, y.id);
      return y;
    } finally {
      this.parents.pop();
      this.path.pop();
    }
  }

  conv2d(m: Conv2d, x: TraceValue): TraceValue {
    const [c, h, w] = this.feature(x, 'Conv2d');
    if (c !== m.inChannels) {
      throw new ShapeError(
        `Conv2d${this.where()}: expected input with ${m.inChannels} channels but received ${c} channels (input shape [N, ${x.shape.join(', ')}])`,
      );
    }
    const oh = outSize(h, m.kernelSize[0], m.stride[0], m.padding[0], m.dilation[0], false);
    const ow = outSize(w, m.kernelSize[1], m.stride[1], m.padding[1], m.dilation[1], false);
    if (oh < 1 || ow < 1) {
      throw new ShapeError(
        `Conv2d${this.where()}: input spatial size ${h}x${w} is too small for kernel ${m.kernelSize.join('x')} with padding ${m.padding.join('x')} and dilation ${m.dilation.join('x')}; use a larger input image`,
      );
    }
    return this.emit({ op: 'conv2d', module: m, inputs: [x.id] }, [m.outChannels, oh, ow]);
  }

  batchNorm2d(m: BatchNorm2d, x: TraceValue): TraceValue {
    const [c] = this.feature(x, 'BatchNorm2d');
    if (c !== m.numFeatures) {
      throw new ShapeError(`BatchNorm2d${this.where()}: expected ${m.numFeatures} channels but received ${c}`);
    }
    return this.emit({ op: 'batch_norm2d', module: m, inputs: [x.id] }, x.shape);
  }

  relu(x: TraceValue): TraceValue {
    return this.emit({ op: 'relu', inputs: [x.id] }, x.shape);
  }

  add(a: TraceValue, b: TraceValue): TraceValue {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new ShapeError(
        `add${this.where()}: operands differ in shape: [N, ${a.shape.join(', ')}] and [N, ${b.shape.join(', ')}]`,
      );
    }
    return this.emit({ op: 'add', inputs: [a.id, b.id] }, a.shape);
  }

  maxPool2d(m: MaxPool2d, x: TraceValue): TraceValue {
    const [c, h, w] = this.feature(x, 'MaxPool2d');
    for (let i = 0; i < 2; i++) {
      if (m.padding[i]! * 2 > m.kernelSize[i]!) {
        throw new ShapeError(`MaxPool2d${this.where()}: padding should be at most half of the kernel size`);
      }
    }
    const oh = outSize(h, m.kernelSize[0], m.stride[0], m.padding[0], m.dilation[0], m.ceilMode);
    const ow = outSize(w, m.kernelSize[1], m.stride[1], m.padding[1], m.dilation[1], m.ceilMode);
    if (oh < 1 || ow < 1) {
      throw new ShapeError(
        `MaxPool2d${this.where()}: input spatial size ${h}x${w} is too small for kernel ${m.kernelSize.join('x')}; use a larger input image`,
      );
    }
    return this.emit({ op: 'max_pool2d', module: m, inputs: [x.id] }, [c, oh, ow]);
  }

  adaptiveAvgPool2d(m: AdaptiveAvgPool2d, x: TraceValue): TraceValue {
    const [c, h, w] = this.feature(x, 'AdaptiveAvgPool2d');
    const oh = m.outputSize[0] ?? h;
    const ow = m.outputSize[1] ?? w;
    if (h < 1 || w < 1) throw new ShapeError(`AdaptiveAvgPool2d${this.where()}: empty input ${h}x${w}`);
    return this.emit({ op: 'adaptive_avg_pool2d', module: m, inputs: [x.id] }, [c, oh, ow]);
  }

  /** `torch.flatten(x, 1)`: every per-sample dimension into one. */
  flatten(x: TraceValue): TraceValue {
    return this.emit({ op: 'flatten', inputs: [x.id] }, [x.shape.reduce((a, b) => a * b, 1)]);
  }

  linear(m: Linear, x: TraceValue): TraceValue {
    if (x.shape.length !== 1 || x.shape[0] !== m.inFeatures) {
      throw new ShapeError(
        `Linear${this.where()}: expected input [N, ${m.inFeatures}] but received [N, ${x.shape.join(', ')}]`,
      );
    }
    return this.emit({ op: 'linear', module: m, inputs: [x.id] }, [m.outFeatures]);
  }
}

/** Pretty per-sample shape with a symbolic batch, for messages. */
export function describeValue(v: TraceValue): string {
  return formatShape(v.shape).replace('[', '[N, ');
}
