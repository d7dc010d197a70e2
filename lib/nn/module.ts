/**
 * The module tree: PyTorch's `nn.Module` for inference. A module owns named parameters, buffers and
 * child modules, in registration order; those names are the state-dict keys (`layer1.0.bn1.running_mean`).
 * A module only describes: its forward pass is a {@link Module.trace} description, and running it is
 * the runtime's job, reached through a hook so that model code never imports the runtime.
 *
 * Children are attributes, as in PyTorch: registering child `fc` makes `module.fc` an accessor of the
 * registration, so `model.fc = new Linear(2048, 10)` replaces the registered child (PyTorch's
 * `__setattr__`) and `null` removes it. State dict, printed form, tracing, export and the compile cache
 * all read the registration, so they follow.
 * @module
 */
import { InvalidArgumentError, NotTrainableError, invalidArgument } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { DType, TensorData } from '../tensor.js';
import type { TraceValue, Tracer } from './trace.js';
import { checkBoolean, checkOptions } from './options.js';
import {
  planLoad, toEntries, type LoadStateDictOptions, type LoadStateDictResult, type StateDict, type StateEntry,
} from './state-dict.js';
import {
  allocateInputFor, releaseCompiled, runForward, runForwardNodes, runWarmup,
  type AllocateInputOptions, type ForwardOptions, type WarmupOptions,
} from './execution.js';
import { ChildSlots } from './child-slots.js';
import { descendantAt, firstOfEach, namedDescendants, namedTensors, stateEntries } from './traversal.js';
import { moduleRepr } from './repr.js';
import type { ModelQuantization } from './quantization.js';
import {
  defaultPlacement, resolvePlacement,
  type ComputeDType, type Device, type DeviceSpec, type Placement, type PlacementOptions,
} from './placement.js';

export { setForwardExecutor } from './execution.js';
export type { LoadStateDictOptions, LoadStateDictResult, StateDict } from './state-dict.js';
export type { AllocateInputOptions, ForwardExecutor, ForwardOptions, WarmupOptions } from './execution.js';

/**
 * Every version stamp comes from this one clock, so the newest stamp in a subtree is larger than any
 * the subtree held before: a parent's version (the maximum over its subtree) changes whenever any
 * descendant's does, and no descendant ever needs to know its parents.
 */
let versionClock = 0;

/** Base class of every layer and model. */
export abstract class Module implements Disposable {
  private readonly childSlots = new ChildSlots(this, (value): value is Module => value instanceof Module, () => {
    this.versionStamp = ++versionClock;
  });
  private readonly ownParameters = new Map<string, Tensor<'float32'>>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private versionStamp = 0;
  private placementState: Placement = defaultPlacement;
  private quantizationState: ModelQuantization | null = null;

  /** Describes this module's forward pass on `x` by calling `t` (see `Tracer`). */
  abstract trace(t: Tracer, x: TraceValue): TraceValue;

  /**
   * PyTorch's `extra_repr`: this module's own settings, shown by {@link Module.toString}
   * (`3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False`).
   */
  extraRepr(): string {
    return '';
  }

  /**
   * Registers (or replaces) the child module `name` and returns it, for `this.conv1 = this.registerModule('conv1', …)`.
   * `null` registers an empty slot (torchvision's `downsample = None`): no child, nothing in the state dict.
   *
   * The first registration of a name makes `this[name]` an accessor of the registration, as PyTorch's
   * `__setattr__` does for a Module: reading gives the child (or null), assigning a Module replaces it and
   * assigning null (or `delete`) removes it, anything else throws. Declare such a field with `declare`
   * (`declare fc: Linear`); a class field initialised in place (`fc = this.registerModule('fc', …)`) works
   * too, though its own definition hides the accessor, so an assignment to it is taken up (and checked) at
   * the module's next use rather than at once.
   * @throws InvalidArgumentError for a bad name, a name taken by a parameter, buffer, method or other
   *   attribute, a value that is not a Module or null, or a module that contains this one.
   */
  protected registerModule<M extends Module | null>(name: string, module: M): M {
    this.checkName(name, 'module');
    this.childSlots.register(name, module);
    return module;
  }

  /**
   * Replaces the descendant at a dotted path (`'fc'`, `'layer4.1.conv2'`) with `module`, or with null
   * removes it: PyTorch's `set_submodule`. The same as assigning to the attribute (`model.layer4[1].conv2 = …`)
   * but typed for any Module, so `model.setSubmodule('fc', new Sequential(new Linear(2048, 256), new ReLU(),
   * new Linear(256, 10)))` type-checks where `model.fc` is declared a `Linear`.
   * @throws InvalidArgumentError for a path whose parent does not exist or whose last name is not a
   *   registered child, or a value that is not a Module or null.
   */
  setSubmodule(target: string, module: Module | null): void {
    if (typeof target !== 'string' || target === '') throw invalidArgument('a non-empty dotted module path', 'target', target);
    const dot = target.lastIndexOf('.');
    const parent = this.getSubmodule(dot < 0 ? '' : target.slice(0, dot));
    const name = target.slice(dot + 1);
    parent.childSlots.sync();
    if (!parent.childSlots.has(name)) {
      throw new InvalidArgumentError(`${parent.constructor.name} has no child module \`${name}\` (setting "${target}"); its children are ${parent.childSlots.names().join(', ') || 'none'}`);
    }
    parent.childSlots.assign(name, module);
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
      (kind !== 'module' && this.childSlots.has(name)) ||
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
    return firstOfEach(this.childSlots.present());
  }

  /** The attribute name under which `child` is registered on this module, if it is a child; for null, the first empty slot. */
  childName(child: Module | null): string | undefined {
    return this.childSlots.nameOf(child);
  }

  /** This module and every descendant, depth first (each module once). */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** This module (named '') and every descendant with its dotted path, depth first (each module once). */
  namedModules(): [string, Module][] {
    return namedDescendants<Module>(this, (m) => m.childSlots.present());
  }

  /** The descendant at a dotted path (`'layer1.0'`; `''` is this module). */
  getSubmodule(target: string): Module {
    if (typeof target !== 'string') throw invalidArgument('a dotted module path', 'target', target);
    if (target === '') return this;
    return descendantAt<Module>(this, target, (m, name) => {
      m.childSlots.sync();
      return m.childSlots.get(name);
    });
  }

  /** Every parameter of this module and its descendants (each tensor once). */
  parameters(): Tensor<'float32'>[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every parameter with its dotted name: a module's own first, then its children's (each tensor once). */
  namedParameters(): [string, Tensor<'float32'>][] {
    return namedTensors(this.namedModules(), (m) => m.ownParameters);
  }

  /** Every buffer with its dotted name, in the same order as {@link Module.namedParameters} (each tensor once). */
  namedBuffers(): [string, Tensor][] {
    return namedTensors(this.namedModules(), (m) => m.ownBuffers);
  }

  /** Total number of parameter elements (PyTorch's `sum(p.numel() for p in m.parameters())`). */
  numParameters(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.numel;
    return n;
  }

  /** Every parameter and buffer of the tree by dotted key, in PyTorch's order. */
  private stateEntries(): Map<string, StateEntry> {
    return stateEntries<Module>(this, {
      children: (m) => m.childSlots.present(),
      ownTensors: (m) => [...m.ownParameters, ...m.ownBuffers],
      isOptional: (m, name) => m.isOptionalStateEntry(name),
    });
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
    const { copies, missingKeys, unexpectedKeys } = planLoad(this.stateEntries(), toEntries(stateDict), strict, this.constructor.name);
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

  /**
   * The scales of post-training static quantization (see `quantize`), keyed by conv module paths relative
   * to this module, or null for a float model. Read when the module runs at dtype `'int8'`; other dtypes
   * run the float weights. Setting it counts as a change of weights (what was compiled is not reused).
   * The scales belong to the weights they were computed from: after loading other weights, quantize again.
   */
  get quantization(): ModelQuantization | null {
    return this.quantizationState;
  }

  set quantization(value: ModelQuantization | null) {
    if (value !== null && (typeof value !== 'object' || !(value.activations instanceof Map) || !(value.weightScales instanceof Map))) {
      throw invalidArgument('a ModelQuantization (from quantize() or a quantized weights file) or null', 'quantization', value);
    }
    this.quantizationState = value;
    this.versionStamp = ++versionClock;
  }

  /**
   * A deep copy (PyTorch's `copy.deepcopy(model)`): the same classes and settings, its own copies of every
   * parameter and buffer, the same placement and quantization. A module shared by two parents stays shared
   * in the copy. The copy compiles on its own; editing one leaves the other as it was.
   */
  clone(): this {
    return Module.copyOf(this, new Map()) as this;
  }

  /** The copy of `source` (made once per module and tensor, through `memo`). */
  private static copyOf(source: Module, memo: Map<object, object>): Module {
    const done = memo.get(source);
    if (done) return done as Module;
    // Module's own fields only: the subclass constructor (and its argument checks) does not run again.
    const copy = Reflect.construct(Module as unknown as new () => Module, [], source.constructor) as Module;
    memo.set(source, copy);
    source.childSlots.sync();
    for (const name of source.childSlots.names()) {
      const child = source.childSlots.get(name)!;
      copy.childSlots.register(name, child === null ? null : Module.copyOf(child, memo));
    }
    const remap = (value: unknown): unknown => {
      if (value instanceof Module) return Module.copyOf(value, memo);
      if (!(value instanceof Tensor)) return value;
      let tensor = memo.get(value) as Tensor | undefined;
      if (!tensor) {
        tensor = Tensor.from((value.data as { slice(): TensorData }).slice() as Float32Array, value.shape, value.dtype);
        if (value.layout !== 'nchw') tensor = tensor.asLayout(value.layout);
        memo.set(value, tensor);
      }
      return tensor;
    };
    for (const [name, t] of source.ownParameters) copy.ownParameters.set(name, remap(t) as Tensor<'float32'>);
    for (const [name, t] of source.ownBuffers) copy.ownBuffers.set(name, remap(t) as Tensor);
    // The subclass's own fields (settings, and the attributes that name its parameters: `conv.weight`).
    const moduleFields = new Set(Object.keys(copy));
    for (const key of Reflect.ownKeys(source)) {
      if (typeof key === 'string' && (moduleFields.has(key) || source.childSlots.has(key))) continue;
      const descriptor = Object.getOwnPropertyDescriptor(source, key)!;
      if (!('value' in descriptor)) continue;
      Object.defineProperty(copy, key, { ...descriptor, value: remap(descriptor.value) });
    }
    copy.placementState = source.placementState;
    copy.quantizationState = source.quantizationState;
    copy.versionStamp = ++versionClock;
    return copy;
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
   * `'auto'` is resolved now: `'cuda:0'` when a GPU with cuDNN works, else `'cpu'`, and then a dtype the
   * CPU cannot run (tf32, float16; bfloat16 without AVX512-BF16 or AMX) becomes `'float32'`, with a process
   * warning (code `RESNET_DTYPE_FALLBACK`) that says why; {@link Module.device} and
   * {@link Module.dtype} report what was taken. An explicit `'cuda'` is not checked here: the first
   * forward rejects with a `BackendUnavailableError` when no GPU works, and the module can be moved back.
   * What was compiled for the old placement is freed once its runs have finished. A module registered
   * later as a child keeps its own placement (the default), as in PyTorch.
   * @throws InvalidArgumentError for a misspelt device, dtype or option; UnsupportedError for tf32 or
   * float16 on the CPU, or bfloat16 on a CPU without AVX512-BF16 or AMX (the message names its ISA).
   */
  to(target: DeviceSpec | ComputeDType | PlacementOptions): this {
    const placement = resolvePlacement(this.constructor.name, target, this.placementState);
    for (const m of this.modules()) {
      const old = m.placementState;
      if (old.device === placement.device && old.dtype === placement.dtype && old.benchmark === placement.benchmark) continue;
      m.placementState = placement;
      releaseCompiled([m]);
    }
    return this;
  }

  /**
   * Runs the forward pass on a batch `[N, C, H, W]` (or `[N, H, W, C]` for a tensor whose
   * {@link Tensor.layout} is `nhwc`) and resolves to the output (logits `[N, classes]` for a classifier)
   * on this module's {@link Module.device} in its {@link Module.dtype}. The input is a float32, float16 or
   * uint8 host tensor, taken as the model's input as it is (pixels are not scaled: normalise them first, or
   * compile with `compileGraph`'s `normalization`); the output is a float32 host tensor. The engine converts
   * the dtype and layout in its first kernel. The first forward of each input shape and batch size compiles
   * (see {@link Module.warmup}). `options.signal` cancels it, as `fetch`'s (see {@link ForwardOptions}).
   * Needs the runtime: import the models from the package entry point.
   * @throws (rejects with) InvalidArgumentError for an unknown option or a signal that is not an
   *   AbortSignal; `signal.reason` when aborted; the errors of compiling and running otherwise.
   * @example
   * ```ts
   * import { loadPretrained, preprocess, readImage, ResNet50_Weights, IMAGENET_CATEGORIES } from 'resnet-cudnn';
   * const weights = ResNet50_Weights.IMAGENET1K_V2;
   * const model = await loadPretrained('resnet50', weights);
   * const x = preprocess([await readImage('dog.jpg')], weights.transforms());   // [1, 3, 224, 224] float32
   * const { indices } = (await model.forward(x)).softmax().topk(5);
   * console.log(indices[0]!.map((i) => IMAGENET_CATEGORIES[i]));
   * ```
   */
  async forward(x: Tensor, options?: ForwardOptions): Promise<Tensor> {
    return runForward(this, x, options);
  }

  /**
   * Compiles this module ahead of time for each of `options.batchSizes`, so that the first forward of
   * those sizes does not compile, and (`runs`, default 1) runs each once on a zeroed input of the given
   * dtype and layout (on a GPU that run captures the CUDA graph later runs replay). The input form options
   * are {@link Module.allocateInput}'s: `size` (default 224), `channels` (3), `dtype`, `layout`. Compiles for
   * the current placement; after {@link Module.to}, {@link Module.dispose} or a change of weights or
   * children the next forward compiles again (warm up again). A module keeps at most 8 batch sizes
   * compiled. Resolves once every size is ready; `options.signal` rejects it at once with the signal's
   * reason (what was already compiled stays compiled).
   * @throws (rejects with) InvalidArgumentError for a bad batch size (an integer from 1 to 65536), more than
   *   8 sizes, a bad size, dtype, layout or runs, or an unknown option; the errors of compiling otherwise.
   */
  async warmup(options: WarmupOptions): Promise<void> {
    await runWarmup(this, options);
  }

  /**
   * Frees what was compiled for this module and its descendants: the executables of the compile cache
   * (device weights and activation memory) and the prepared graphs' native copies of the weights, once
   * the runs in flight have finished. The module stays usable: its parameters are untouched, and the next
   * forward compiles again. Input buffers from {@link Module.allocateInput} belong to the caller and are
   * freed when garbage-collected. `using model = resnet50()` calls it at the end of the scope. Idempotent.
   */
  dispose(): void {
    releaseCompiled(this.modules());
  }

  /** `using model = resnet18()` disposes what was compiled for it at the end of the scope (see {@link Module.dispose}). */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** `console.log(model)` and `util.inspect(model)` print the module tree, as {@link Module.toString} does. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
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
    return allocateInputFor(this, batch, options);
  }

  /**
   * Runs the forward pass and resolves to the outputs of the named submodules, like torchvision's
   * `create_feature_extractor(model, return_nodes=[...])(x)`: names are dotted module paths as in
   * {@link Module.namedModules} (`'layer3'`, `'layer4.1.conv2'`, `'avgpool'`), and the result maps each
   * name to its module's output (`avgpool` gives `[N, C, 1, 1]`, before the flatten). Everything is
   * computed in one native run that skips the ops none of the names needs (no `fc` for `avgpool`). A
   * module called more than once in a forward pass (a block's shared `relu`) answers with its last call.
   * `options.signal` cancels it as {@link Module.forward}'s does.
   * @throws InvalidArgumentError for a name the forward pass never calls (the message lists the valid
   *   names), an empty list or a repeated name.
   */
  async forwardNodes<K extends string>(x: Tensor, returnNodes: readonly K[], options?: ForwardOptions): Promise<Record<K, Tensor>> {
    return runForwardNodes(this, x, returnNodes, options);
  }

  /** The module tree as PyTorch prints it, children indented under their attribute names. */
  toString(): string {
    return moduleRepr(this.constructor.name, this.extraRepr(), [...this.childSlots.present()].map(([name, m]) => [name, m.toString()]));
  }
}
