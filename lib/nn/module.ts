/**
 * The module tree: PyTorch's `nn.Module` for inference. A module owns named parameters, buffers and
 * child modules, in registration order; those names are the state-dict keys (`layer1.0.bn1.running_mean`).
 * A module only describes: its forward pass is a {@link Module.trace} description, and running it is
 * the runtime's job, reached through a hook so that model code never imports the runtime.
 * @module
 */
import { InvalidArgumentError, NotTrainableError, StateDictError, UnsupportedError, invalidArgument } from '../errors.js';
import type { ShapeMismatch } from '../errors.js';
import { Tensor, formatShape } from '../tensor.js';
import type { DType, TensorData } from '../tensor.js';
import type { TraceValue, Tracer } from './trace.js';
import { checkBoolean, checkOptions } from './options.js';
import {
  defaultPlacement, isComputeDType, placementResolver,
  type ComputeDType, type Device, type DeviceSpec, type Placement, type PlacementOptions,
} from './placement.js';

/** Parameters and buffers by dotted name, in PyTorch's order. */
export type StateDict = Record<string, Tensor>;

/** What {@link Module.loadStateDict} reports (PyTorch's `_IncompatibleKeys`). */
export interface LoadStateDictResult {
  /** Keys the module expects that the state dict lacks. */
  readonly missingKeys: string[];
  /** Keys of the state dict that the module does not have. */
  readonly unexpectedKeys: string[];
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Throw when keys are missing or unexpected (default true). Shape mismatches throw either way. */
  strict?: boolean;
}

/** Runs a module's forward pass. The runtime installs one; model code never imports the runtime. */
export interface ForwardExecutor {
  forward(module: Module, x: Tensor): Promise<Tensor>;
  /**
   * The outputs of the named submodules (dotted paths, distinct) of `module` on `x`, in that order, from
   * one run. Optional: {@link Module.forwardNodes} reports an executor without it as unsupported.
   */
  forwardNodes?(module: Module, x: Tensor, nodes: readonly string[]): Promise<Tensor[]>;
  /** A zeroed input tensor in host memory that runs read in place (see {@link Module.allocateInput}). */
  allocateInput?(module: Module, batch: number, options: Required<AllocateInputOptions>): Tensor;
  /**
   * Called by {@link Module.to} for each module whose placement changed: frees what was compiled for
   * the old placement (device memory included) once the runs using it have finished.
   */
  release?(module: Module): void;
}

/** Options of {@link Module.allocateInput}. */
export interface AllocateInputOptions {
  /** `float32` (default), `float16` (bits in a Uint16Array) or `uint8` (pixels). */
  dtype?: 'float32' | 'float16' | 'uint8';
  /** `nchw` (default: shape `[N, C, H, W]`) or `nhwc` (shape `[N, H, W, C]`, as decoders write pixels). */
  layout?: 'nchw' | 'nhwc';
  /** The image size, `H = W` or `[H, W]`; default 224 (ImageNet). */
  size?: number | readonly [number, number];
  /** Channels; default 3. */
  channels?: number;
}

let forwardExecutor: ForwardExecutor | null = null;

/** Installs (or, with null, removes) the process-wide executor behind {@link Module.forward}. @internal */
export function setForwardExecutor(executor: ForwardExecutor | null): void {
  if (executor !== null && (typeof executor?.forward !== 'function' || (executor.release !== undefined && typeof executor.release !== 'function'))) {
    throw invalidArgument('an object with a forward(module, x) method (and optionally release(module)), or null', 'executor', executor);
  }
  forwardExecutor = executor;
}

/**
 * Every version stamp comes from this one clock, so the newest stamp in a subtree is larger than any
 * the subtree held before: a parent's version (the maximum over its subtree) changes whenever any
 * descendant's does, and no descendant ever needs to know its parents.
 */
let versionClock = 0;

type Entry = { kind: 'parameter' | 'buffer'; module: Module; name: string; tensor: Tensor };

/** Base class of every layer and model. */
export abstract class Module {
  private readonly childModules = new Map<string, Module>();
  private readonly ownParameters = new Map<string, Tensor<'float32'>>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private versionStamp = 0;
  private placementState: Placement = defaultPlacement;

  /** Describes this module's forward pass on `x` by calling `t` (see `Tracer`). */
  abstract trace(t: Tracer, x: TraceValue): TraceValue;

  /**
   * PyTorch's `extra_repr`: this module's own settings, shown by {@link Module.toString}
   * (`3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False`).
   */
  extraRepr(): string {
    return '';
  }

  /** Registers (or replaces) the child module `name`; returns it, for `this.conv1 = this.registerModule('conv1', …)`. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name, 'module');
    if (!(module instanceof Module)) throw invalidArgument('a Module', `module "${name}"`, module);
    this.childModules.set(name, module);
    this.versionStamp = ++versionClock;
    return module;
  }

  /** Registers (or replaces) the float32 parameter `name`; returns it. */
  protected registerParameter(name: string, tensor: Tensor<'float32'>): Tensor<'float32'> {
    this.checkName(name, 'parameter');
    if (!(tensor instanceof Tensor) || tensor.dtype !== 'float32') {
      throw invalidArgument('a float32 Tensor', `parameter "${name}"`, tensor);
    }
    this.ownParameters.set(name, tensor);
    this.versionStamp = ++versionClock;
    return tensor;
  }

  /** Registers (or replaces) the buffer `name` (state that is not a parameter: running statistics); returns it. */
  protected registerBuffer<D extends DType>(name: string, tensor: Tensor<D>): Tensor<D> {
    this.checkName(name, 'buffer');
    if (!(tensor instanceof Tensor)) throw invalidArgument('a Tensor', `buffer "${name}"`, tensor);
    this.ownBuffers.set(name, tensor);
    this.versionStamp = ++versionClock;
    return tensor;
  }

  private checkName(name: string, kind: 'module' | 'parameter' | 'buffer'): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw invalidArgument(`a non-empty ${kind} name without "."`, `${kind} name`, name);
    }
    const taken =
      (kind !== 'module' && this.childModules.has(name)) ||
      (kind !== 'parameter' && this.ownParameters.has(name)) ||
      (kind !== 'buffer' && this.ownBuffers.has(name));
    if (taken) throw new InvalidArgumentError(`${this.constructor.name}: attribute "${name}" already exists`);
  }

  /**
   * True when the state dict may omit this module's entry `name` without it being reported missing.
   * BatchNorm's `num_batches_tracked` is such an entry (PyTorch accepts state dicts saved before it existed).
   */
  protected isOptionalStateEntry(_name: string): boolean {
    return false;
  }

  /** The immediate children, in registration order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** The immediate children with their attribute names, in registration order (each module once). */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    for (const [name, m] of this.childModules) {
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([name, m]);
    }
    return out;
  }

  /** The attribute name under which `child` is registered on this module, if it is a child. */
  childName(child: Module): string | undefined {
    for (const [name, m] of this.childModules) if (m === child) return name;
    return undefined;
  }

  /** This module and every descendant, depth first (each module once). */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** This module (named '') and every descendant with its dotted path, depth first (each module once). */
  namedModules(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    const visit = (prefix: string, m: Module): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([prefix, m]);
      for (const [name, child] of m.childModules) visit(prefix ? `${prefix}.${name}` : name, child);
    };
    visit('', this);
    return out;
  }

  /** The descendant at a dotted path (`'layer1.0'`; `''` is this module). */
  getSubmodule(target: string): Module {
    if (typeof target !== 'string') throw invalidArgument('a dotted module path', 'target', target);
    if (target === '') return this;
    let m: Module = this;
    for (const item of target.split('.')) {
      const next = m.childModules.get(item);
      if (next === undefined) {
        throw new InvalidArgumentError(`${m.constructor.name} has no attribute \`${item}\` (looking up "${target}")`);
      }
      m = next;
    }
    return m;
  }

  /** Every parameter of this module and its descendants (each tensor once). */
  parameters(): Tensor<'float32'>[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every parameter with its dotted name: a module's own first, then its children's (each tensor once). */
  namedParameters(): [string, Tensor<'float32'>][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor<'float32'>][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.ownParameters) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${name}` : name, p]);
      }
    }
    return out;
  }

  /** Every buffer with its dotted name, in the same order as {@link Module.namedParameters} (each tensor once). */
  namedBuffers(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m.ownBuffers) {
        if (seen.has(b)) continue;
        seen.add(b);
        out.push([prefix ? `${prefix}.${name}` : name, b]);
      }
    }
    return out;
  }

  /** Total number of parameter elements (PyTorch's `sum(p.numel() for p in m.parameters())`). */
  numParameters(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.numel;
    return n;
  }

  private stateEntries(): Map<string, Entry> {
    const out = new Map<string, Entry>();
    const visit = (prefix: string, m: Module): void => {
      for (const [name, tensor] of m.ownParameters) out.set(prefix + name, { kind: 'parameter', module: m, name, tensor });
      for (const [name, tensor] of m.ownBuffers) out.set(prefix + name, { kind: 'buffer', module: m, name, tensor });
      for (const [name, child] of m.childModules) visit(`${prefix}${name}.`, child);
    };
    visit('', this);
    return out;
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's order (each module's parameters, then its
   * buffers, then its children). The tensors are the module's own, not copies, as in PyTorch: after
   * editing their data in place, call {@link Module.markWeightsChanged}.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [key, entry] of this.stateEntries()) out[key] = entry.tensor;
    return out;
  }

  /**
   * Copies a state dict's values into this module's parameters and buffers (PyTorch's
   * `load_state_dict`). Float values of any float dtype are converted to float32, integer buffers to
   * int64. With `strict` (the default) missing or unexpected keys throw a {@link StateDictError}
   * worded as PyTorch's; shape mismatches throw in any mode. Unlike PyTorch, a load that throws
   * changes nothing.
   */
  loadStateDict(stateDict: StateDict | ReadonlyMap<string, Tensor>, options?: LoadStateDictOptions): LoadStateDictResult {
    const opts = checkOptions(options, ['strict'], 'loadStateDict');
    const strict = opts.strict === undefined ? true : checkBoolean(opts.strict, 'strict');
    const given = toEntries(stateDict);
    const expected = this.stateEntries();

    const missingKeys: string[] = [];
    const shapeMismatches: ShapeMismatch[] = [];
    const problems: string[] = [];
    const copies: [Tensor, TensorData][] = [];
    for (const [key, entry] of expected) {
      const source = given.get(key);
      if (source === undefined) {
        if (!entry.module.isOptionalStateEntry(entry.name)) missingKeys.push(key);
        continue;
      }
      const target = entry.tensor;
      // PyTorch's compatibility rule: a one-element 1-D value may fill a scalar.
      const sameShape =
        (source.ndim === target.ndim && source.shape.every((d, i) => d === target.shape[i])) ||
        (target.ndim === 0 && source.ndim === 1 && source.shape[0] === 1);
      if (!sameShape) {
        shapeMismatches.push({ key, expected: target.shape, received: source.shape });
        problems.push(
          `size mismatch for ${key}: copying a param with shape ${formatShape(source.shape)} from checkpoint, the shape in current model is ${formatShape(target.shape)}.`,
        );
        continue;
      }
      const converted = convertFor(target, source);
      if (typeof converted === 'string') {
        problems.push(`dtype mismatch for ${key}: ${converted}`);
        continue;
      }
      copies.push([target, converted]);
    }
    const unexpectedKeys = [...given.keys()].filter((key) => !expected.has(key));

    const messages = [...problems];
    if (strict && unexpectedKeys.length > 0) {
      messages.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}. `);
    }
    if (strict && missingKeys.length > 0) {
      messages.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}. `);
    }
    if (messages.length > 0) {
      throw new StateDictError(
        `Error(s) in loading state_dict for ${this.constructor.name}:\n\t${messages.join('\n\t')}`,
        { missingKeys, unexpectedKeys, shapeMismatches },
      );
    }
    // convertFor returned data of the target's own array type (Float32Array or BigInt64Array).
    for (const [target, data] of copies) (target.data as { set(source: TensorData): void }).set(data);
    this.markWeightsChanged();
    return { missingKeys, unexpectedKeys };
  }

  /**
   * A number that changes whenever this module's or any descendant's weights may have changed
   * (`loadStateDict`, {@link Module.markWeightsChanged}, registration). Compiled forms key on it.
   */
  get version(): number {
    let v = 0;
    for (const m of this.modules()) v = Math.max(v, m.versionStamp);
    return v;
  }

  /** Declares that parameter or buffer data of this module or its descendants was edited in place. */
  markWeightsChanged(): void {
    const stamp = ++versionClock;
    for (const m of this.modules()) m.versionStamp = stamp;
  }

  /** Always false: modules always behave as in PyTorch's `eval()`. */
  get training(): false {
    return false;
  }

  /** Returns this module: it is always in evaluation mode. */
  eval(): this {
    return this;
  }

  /** `train(false)` returns this module; `train()` / `train(true)` throw: this is an inference library. */
  train(mode = true): this {
    if (checkBoolean(mode, 'mode')) {
      throw new NotTrainableError(
        'resnet-cudnn is an inference library: modules always behave as in eval() (BatchNorm uses its running statistics, nothing computes gradients), so train() is not supported',
      );
    }
    return this;
  }

  /** Where this module runs and in which arithmetic (see {@link Module.to}). Default: CPU, float32. */
  get placement(): Placement {
    return this.placementState;
  }

  /** The device this module runs on: `'cpu'` (the default) or `'cuda:N'`; `'auto'` shows what it resolved to. */
  get device(): Device {
    return this.placementState.device;
  }

  /** The compute dtype this module runs in (default `'float32'`): the one really used, see {@link Module.to}. */
  get dtype(): ComputeDType {
    return this.placementState.dtype;
  }

  /**
   * Places this module and all its descendants on a device and/or in a compute dtype, like PyTorch's
   * `module.to(...)`, and returns this module. Accepts an options object, a device name
   * (`to('cuda')`, `to('cuda:1')`, `to('auto')`) or a dtype name (`to('float16')`); what is not given
   * keeps this module's value, and the whole subtree takes the resulting placement.
   *
   * `'auto'` is resolved now: `'cuda:0'` when a GPU with cuDNN works, else `'cpu'`, and then the dtype
   * becomes `'float32'` (the CPU runs nothing else) whatever was asked; {@link Module.device} and
   * {@link Module.dtype} report what was taken. An explicit `'cuda'` is not checked here: the first
   * forward rejects with a `BackendUnavailableError` when no GPU works, and the module can be moved back.
   * What was compiled for the old placement is freed once its runs have finished. A module registered
   * later as a child keeps its own placement (the default), as in PyTorch.
   * @throws InvalidArgumentError for a misspelt device, dtype or option; UnsupportedError for a dtype
   * other than float32 on the CPU.
   */
  to(target: DeviceSpec | ComputeDType | PlacementOptions): this {
    let request: PlacementOptions;
    if (typeof target === 'string') request = isComputeDType(target) ? { dtype: target } : { device: target };
    else if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
      request = checkOptions(target, ['device', 'dtype', 'benchmark'], 'to');
    } else {
      throw invalidArgument(`a device ('cpu', 'cuda', 'cuda:N', 'auto'), a dtype or an options object`, 'to', target);
    }
    const resolver = placementResolver();
    if (resolver === null) {
      throw new UnsupportedError(
        `${this.constructor.name}.to needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
      );
    }
    const placement = resolver.resolve(request, this.placementState);
    for (const m of this.modules()) {
      const old = m.placementState;
      if (old.device === placement.device && old.dtype === placement.dtype && old.benchmark === placement.benchmark) continue;
      m.placementState = placement;
      forwardExecutor?.release?.(m);
    }
    return this;
  }

  /**
   * Runs the forward pass on a batch `[N, C, H, W]` (or `[N, H, W, C]` for a tensor whose
   * {@link Tensor.layout} is `nhwc`) and resolves to the output (logits `[N, classes]` for a classifier)
   * on this module's {@link Module.device} in its {@link Module.dtype}. The input is a float32, float16 or
   * uint8 host tensor, taken as the model's input as it is (pixels are not scaled: normalise them first, or
   * compile with `compileGraph`'s `normalization`); the output is a float32 host tensor. The engine converts
   * the dtype and layout in its first kernel. Needs the runtime: import the models from the package entry
   * point.
   */
  async forward(x: Tensor): Promise<Tensor> {
    if (forwardExecutor === null) {
      throw new UnsupportedError(
        `${this.constructor.name}.forward needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
      );
    }
    return forwardExecutor.forward(this, x);
  }

  /**
   * A zeroed input batch of `batch` images in memory that {@link Module.forward} reads in place, with no
   * host copy: page-locked on a GPU (the GPU reads it by DMA), aligned on the CPU. Fill `tensor.data`
   * (pixels straight from a decoder with `{ dtype: 'uint8', layout: 'nhwc' }`) and call `forward(tensor)`;
   * refill it once that forward has resolved (a forward reads it while in flight). Allocated for this
   * module's device: after {@link Module.to} another device, allocate again (the old one still works,
   * through a copy). Freed when garbage-collected.
   * @throws InvalidArgumentError for a bad batch, dtype, layout or size; the BackendUnavailableError family
   *   when the module's GPU cannot be used; OutOfMemoryError.
   */
  allocateInput(batch: number, options: AllocateInputOptions = {}): Tensor {
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > 65536) throw invalidArgument('an integer from 1 to 65536', 'batch', batch);
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'uint8') throw invalidArgument('"float32", "float16" or "uint8"', 'options.dtype', dtype);
    const layout = options.layout ?? 'nchw';
    if (layout !== 'nchw' && layout !== 'nhwc') throw invalidArgument('"nchw" or "nhwc"', 'options.layout', layout);
    const size = options.size ?? 224;
    const [height, width] = typeof size === 'number' ? [size, size] : Array.isArray(size) && size.length === 2 ? size : [NaN, NaN];
    for (const [name, value] of [['options.size', height], ['options.size', width], ['options.channels', options.channels ?? 3]] as const) {
      if (!Number.isSafeInteger(value) || value < 1 || value > 65536) throw invalidArgument('an integer from 1 to 65536 (or [H, W] for size)', name, name === 'options.size' ? size : value);
    }
    if (forwardExecutor === null || forwardExecutor.allocateInput === undefined) {
      throw new UnsupportedError(
        `${this.constructor.name}.allocateInput needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
      );
    }
    return forwardExecutor.allocateInput(this, batch, { dtype, layout, size: [height!, width!], channels: options.channels ?? 3 });
  }

  /**
   * Runs the forward pass and resolves to the outputs of the named submodules, like torchvision's
   * `create_feature_extractor(model, return_nodes=[...])(x)`: names are dotted module paths as in
   * {@link Module.namedModules} (`'layer3'`, `'layer4.1.conv2'`, `'avgpool'`), and the result maps each
   * name to its module's output (`avgpool` gives `[N, C, 1, 1]`, before the flatten). Everything is
   * computed in one native run that skips the ops none of the names needs (no `fc` for `avgpool`). A
   * module called more than once in a forward pass (a block's shared `relu`) answers with its last call.
   * @throws InvalidArgumentError for a name the forward pass never calls (the message lists the valid
   *   names), an empty list or a repeated name.
   */
  async forwardNodes<K extends string>(x: Tensor, returnNodes: readonly K[]): Promise<Record<K, Tensor>> {
    if (!Array.isArray(returnNodes) || returnNodes.length === 0 || returnNodes.some((n) => typeof n !== 'string')) {
      throw invalidArgument('a non-empty array of submodule names', 'returnNodes', returnNodes);
    }
    const repeated = returnNodes.find((n, i) => returnNodes.indexOf(n) !== i);
    if (repeated !== undefined) throw invalidArgument('distinct submodule names', 'returnNodes', returnNodes);
    if (forwardExecutor === null || forwardExecutor.forwardNodes === undefined) {
      throw new UnsupportedError(
        `${this.constructor.name}.forwardNodes needs the runtime, which is installed by the package entry point: import the models from 'resnet-cudnn' rather than from a file inside the package`,
      );
    }
    const outputs = await forwardExecutor.forwardNodes(this, x, returnNodes);
    return Object.fromEntries(returnNodes.map((name, i) => [name, outputs[i]!])) as Record<K, Tensor>;
  }

  /** The module tree as PyTorch prints it, children indented under their attribute names. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = [...this.childModules].map(
      ([name, m]) => `(${name}): ${m.toString().split('\n').join('\n  ')}`,
    );
    const lines = [...extraLines, ...childLines];
    let body = '';
    if (lines.length === 1 && childLines.length === 0) body = extraLines[0]!;
    else if (lines.length > 0) body = `\n  ${lines.join('\n  ')}\n`;
    return `${this.constructor.name}(${body})`;
  }
}

function toEntries(stateDict: unknown): Map<string, Tensor> {
  let entries: [string, unknown][];
  if (stateDict instanceof Map) entries = [...(stateDict as Map<string, unknown>)];
  else if (typeof stateDict === 'object' && stateDict !== null && !Array.isArray(stateDict)) entries = Object.entries(stateDict);
  else throw invalidArgument('a state dict (an object or Map of Tensors by name)', 'stateDict', stateDict);
  for (const [key, value] of entries) {
    if (!(value instanceof Tensor)) throw invalidArgument('a Tensor', `stateDict["${key}"]`, value);
  }
  return new Map(entries as [string, Tensor][]);
}

const floatDTypes: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16'];
const intDTypes: readonly DType[] = ['int64', 'int32', 'int16', 'int8', 'uint8'];

/** `source`'s values in `target`'s dtype (a fresh array, or source's own when it needs no conversion), or why not. */
function convertFor(target: Tensor, source: Tensor): TensorData | string {
  if (target.dtype === 'float32') {
    if (!floatDTypes.includes(source.dtype)) {
      return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is float32 (a floating-point value is needed).`;
    }
    return source.toFloat32().data;
  }
  if (target.dtype === 'int64') {
    if (intDTypes.includes(source.dtype)) return source.to('int64').data;
    if (floatDTypes.includes(source.dtype) && source.toFloat32().data.every((v) => Number.isInteger(v))) {
      return source.to('int64').data;
    }
    return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is int64 (integer values are needed).`;
  }
  if (source.dtype === target.dtype) return source.data;
  return `copying a param of dtype ${source.dtype} from checkpoint, the param in current model is ${target.dtype}.`;
}
