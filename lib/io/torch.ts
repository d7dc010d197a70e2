/**
 * PyTorch checkpoints (`torch.save` files), read without executing anything.
 *
 * Both formats are read: the zip format of PyTorch ≥ 1.6 (`<name>/data.pkl` plus one entry
 * `<name>/data/<key>` per storage) and the legacy format (five pickles — magic number, protocol,
 * sys_info, the object, the storage keys — then each storage as an int64 element count and its raw
 * bytes). The object pickle goes through the restricted unpickler of `pickle.ts` with an explicit
 * allow-list of globals ({@link allowedGlobals}); anything else is refused with an error naming it.
 *
 * What {@link loadCheckpoint} returns: a dict whose keys are all strings becomes a plain object (keys
 * such as `__proto__` are own properties, never prototype changes), any other dict a `Map`; an
 * `OrderedDict`'s attributes (the `_metadata` that `state_dict()` attaches) are dropped; tensors become
 * {@link Tensor}s holding contiguous copies of their (possibly strided, offset, shared) views, in
 * their own dtype; lists are arrays, tuples frozen arrays, other values as `unpickle` describes.
 * Storages saved on a GPU (`cuda:0`) load on the host like any other.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { InvalidFileError, UnsupportedError, invalidArgument } from '../errors.js';
import { Tensor, arrayTypes, dtypeSize, formatShape, type DType, type DTypeArrays } from '../tensor.js';
import { swapToHostOrder } from './endian.js';
import { PickleGlobal, pythonType, unpickle, type PickleHooks } from './pickle.js';
import { isZip, readZip } from './zip.js';
import type { StateDict } from '../nn/module.js';

/** PyTorch's storage classes and the dtype each holds. @internal */
export const storageDTypes: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** The only globals a checkpoint may name: what state dicts and training checkpoints need. */
export const allowedGlobals: readonly string[] = Object.freeze([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch.Size',
  'builtins.set',
  'builtins.frozenset',
  '__builtin__.set',
  '__builtin__.frozenset',
  ...Object.keys(storageDTypes).map((s) => `torch.${s}`),
]);

const allowed = new Set(allowedGlobals);

/** Nesting deeper than this in the loaded object is refused (a hostile pickle can nest cheaply). */
const maxDepth = 1000;

/** A storage a persistent id names; its bytes are found later (legacy files put them after the pickle). */
class StorageRef {
  constructor(
    readonly dtype: DType,
    readonly key: string,
    /** Elements of the whole (root) storage, as the file declares them. */
    readonly rootNumel: number,
    /** Where this (legacy view) storage starts within its root, and its length, in elements. */
    readonly base: number,
    readonly numel: number,
  ) {}
}

/** A tensor view into a storage, materialised once every storage's bytes are known. */
class PendingTensor {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

function fail(message: string): never {
  throw new InvalidFileError(`checkpoint: ${message}`);
}

function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

function safeInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer but is ${pythonType(v)} ${String(v)}`);
  return v as number;
}

function intTuple(v: unknown, what: string): number[] {
  if (!isTuple(v)) fail(`${what} must be a tuple but is a ${pythonType(v)}`);
  return (v as unknown[]).map((d, i) => safeInt(d, `${what}[${i}]`));
}

function rebuildTensor(args: readonly unknown[], name: string): PendingTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) fail(`${name} needs a storage but got a ${pythonType(storage)}`);
  const ref = storage as StorageRef;
  const shape = intTuple(size, `${name} size`);
  const strides = intTuple(stride, `${name} stride`);
  const start = safeInt(offset, `${name} storage offset`);
  if (shape.length !== strides.length) fail(`${name}: size ${formatShape(shape)} and stride ${formatShape(strides)} differ in rank`);
  // Bounds in BigInt: a hostile size times stride can pass 2^53.
  let numel = 1n;
  let last = BigInt(start);
  for (let i = 0; i < shape.length; i++) {
    numel *= BigInt(shape[i]!);
    last += BigInt(Math.max(shape[i]! - 1, 0)) * BigInt(strides[i]!);
  }
  if (numel > 0n && last >= BigInt(ref.numel)) {
    fail(`tensor of size ${formatShape(shape)}, stride ${formatShape(strides)}, offset ${start} reaches element ${last} of a ${ref.numel}-element storage`);
  }
  // Materialising copies numel elements: a broadcast (stride-0) view larger than its storage would let
  // a tiny file demand unbounded memory, so it is refused (checkpoints do not hold such views).
  if (numel > BigInt(ref.numel)) fail(`tensor of size ${formatShape(shape)} has more elements than its ${ref.numel}-element storage (a broadcast view)`);
  return new PendingTensor(ref, start, shape, strides);
}

function persistentLoad(pid: unknown, legacy: boolean): StorageRef {
  if (!isTuple(pid) || pid[0] !== 'storage') fail(`unknown persistent id (a ${pythonType(pid)}); expected ('storage', …)`);
  const [, type, key, location, numel, view] = pid as readonly unknown[];
  if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !(type.name in storageDTypes)) {
    fail(`persistent id names storage type ${pythonType(type)}, not a torch storage class`);
  }
  if (typeof key !== 'string') fail(`storage key must be a str but is a ${pythonType(key)}`);
  if (typeof location !== 'string') fail(`storage location must be a str but is a ${pythonType(location)}`);
  const dtype = storageDTypes[(type as PickleGlobal).name]!;
  const rootNumel = safeInt(numel, `the element count of storage ${key}`);
  if (legacy && view !== null && view !== undefined) {
    // A view of a root storage (PyTorch < 1.6): (view_key, offset, view_size), in elements.
    if (!isTuple(view) || view.length !== 3) fail(`storage ${key}: view metadata must be a 3-tuple`);
    const base = safeInt(view[1], `storage ${key} view offset`);
    const size = safeInt(view[2], `storage ${key} view size`);
    if (base + size > rootNumel) fail(`storage ${key}: view [${base}, ${base + size}) lies outside its ${rootNumel}-element root`);
    return new StorageRef(dtype, key as string, rootNumel, base, size);
  }
  return new StorageRef(dtype, key as string, rootNumel, 0, rootNumel);
}

/** The hooks that let the unpickler build state dicts and nothing else. */
function checkpointHooks(legacy: boolean, storages: StorageRef[]): PickleHooks {
  return {
    findGlobal(module, name) {
      const qualified = `${module}.${name}`;
      if (!allowed.has(qualified)) {
        fail(`refusing to load global ${qualified}: only these globals are allowed in a checkpoint: ${allowedGlobals.join(', ')}`);
      }
      return new PickleGlobal(module, name);
    },
    call(callable, args) {
      const g = callable as PickleGlobal;
      switch (g.qualifiedName) {
        case 'collections.OrderedDict': {
          const d = new Map<unknown, unknown>();
          if (args.length === 0) return d;
          if (args.length === 1 && Array.isArray(args[0])) {
            for (const pair of args[0] as unknown[]) {
              if (!isTuple(pair) || pair.length !== 2 || typeof pair[0] === 'object') fail('OrderedDict(items) needs (key, value) pairs');
              d.set((pair as unknown[])[0], (pair as unknown[])[1]);
            }
            return d;
          }
          return fail(`collections.OrderedDict called with ${args.length} arguments`);
        }
        case 'torch._utils._rebuild_tensor_v2':
          if (args.length < 6 || args.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, not ${args.length}`);
          return rebuildTensor(args, '_rebuild_tensor_v2');
        case 'torch._utils._rebuild_tensor':
          if (args.length !== 4) fail(`_rebuild_tensor takes 4 arguments, not ${args.length}`);
          return rebuildTensor(args, '_rebuild_tensor');
        case 'torch._utils._rebuild_parameter':
          if (args.length !== 3 || !(args[0] instanceof PendingTensor)) fail('_rebuild_parameter needs (tensor, requires_grad, hooks)');
          return args[0];
        case 'torch.Size':
          if (args.length !== 1 || !isTuple(args[0])) fail('torch.Size needs one tuple');
          return intTuple(args[0], 'torch.Size');
        case 'builtins.set':
        case '__builtin__.set':
        case 'builtins.frozenset':
        case '__builtin__.frozenset':
          if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0]))) fail(`${g.qualifiedName} needs one list`);
          return new Set((args[0] as unknown[] | undefined) ?? []);
        default:
          return fail(`refusing to call ${g.qualifiedName}: it may only appear as a storage type`);
      }
    },
    build(obj, state) {
      // OrderedDict's state is its __dict__ (state_dict()'s `_metadata`: versions, not weights).
      if (obj instanceof Map && (state instanceof Map || state === null)) return obj;
      return fail(`refusing to BUILD a ${pythonType(obj)}`);
    },
    persistentLoad(pid) {
      const ref = persistentLoad(pid, legacy);
      storages.push(ref);
      return ref;
    },
  };
}

/** Copies `count` elements' bytes into a fresh, aligned typed array in host order. */
function typedCopy(dtype: DType, bytes: Uint8Array): DTypeArrays[DType] {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  swapToHostOrder(copy, dtypeSize[dtype]);
  return new (arrayTypes[dtype] as new (buffer: ArrayBuffer) => DTypeArrays[DType])(copy.buffer);
}

/** Gathers a strided view into a contiguous tensor. */
function materialise(t: PendingTensor, storage: DTypeArrays[DType]): Tensor {
  const { dtype } = t.storage;
  const start = t.storage.base + t.offset;
  const n = t.size.reduce((a, b) => a * b, 1);
  let contiguous = true;
  for (let i = t.size.length - 1, expected = 1; i >= 0; i--) {
    if (t.size[i]! !== 1 && t.stride[i]! !== expected) contiguous = false;
    expected *= t.size[i]!;
  }
  if (contiguous || n === 0) return Tensor.from(storage.slice(start, start + n) as DTypeArrays[DType], t.size, dtype);
  const out = new (arrayTypes[dtype] as new (n: number) => DTypeArrays[DType])(n) as unknown as { [i: number]: number | bigint };
  const src = storage as unknown as { [i: number]: number | bigint };
  const rank = t.size.length;
  const index = new Array<number>(rank).fill(0);
  let at = start;
  for (let i = 0; i < n; i++) {
    out[i] = src[at]!;
    // Odometer over the multi-index, innermost dimension fastest.
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < t.size[d]!) {
        at += t.stride[d]!;
        break;
      }
      at -= (t.size[d]! - 1) * t.stride[d]!;
      index[d] = 0;
    }
  }
  return Tensor.from(out as unknown as DTypeArrays[DType], t.size, dtype);
}

/**
 * Turns the unpickled value into the public shape, replacing pending tensors. Shared and cyclic
 * references stay shared (each object is converted once).
 */
/**
 * Bytes of tensor copies a checkpoint may produce beyond its own size: each view becomes its own contiguous
 * copy, so a file repeating views of one storage (about 50 bytes of pickle per view) would otherwise ask for
 * memory without bound (200 views of a 1 MiB storage: 200 MiB from a 1 MiB file). Real checkpoints copy at
 * most about their own size (tied weights now and then); this allows twice the file plus 64 MiB.
 */
function copyBudget(fileBytes: number): number {
  return 2 * fileBytes + 64 * 2 ** 20;
}

function finish(root: unknown, storageData: (ref: StorageRef) => DTypeArrays[DType], fileBytes: number): unknown {
  const done = new Map<object, unknown>();
  const budget = copyBudget(fileBytes);
  let copied = 0;
  const visit = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (depth > maxDepth) fail(`the object is nested deeper than ${maxDepth} levels`);
    const seen = done.get(v);
    if (seen !== undefined) return seen;
    if (v instanceof PendingTensor) {
      // The storage and the view are checked first (materialise refuses a view reaching past its storage), so
      // one copy is at most a storage's size; the budget then bounds their sum.
      const t = materialise(v, storageData(v.storage));
      copied += t.data.byteLength;
      if (copied > budget) {
        fail(`its tensors add up to more than ${budget} bytes, over twice the file's ${fileBytes} bytes plus 64 MiB (views of one storage repeated); refusing to allocate that much`);
      }
      done.set(v, t);
      return t;
    }
    if (v instanceof StorageRef) fail('a bare storage (not inside a tensor) is not supported');
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      done.set(v, out);
      for (const item of v) out.push(visit(item, depth + 1));
      return Object.isFrozen(v) ? Object.freeze(out) : out;
    }
    if (v instanceof Map) {
      if ([...v.keys()].every((k) => typeof k === 'string')) {
        const out: Record<string, unknown> = {};
        done.set(v, out);
        for (const [k, item] of v) {
          Object.defineProperty(out, k as string, { value: visit(item, depth + 1), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      const out = new Map<unknown, unknown>();
      done.set(v, out);
      for (const [k, item] of v) out.set(visit(k, depth + 1), visit(item, depth + 1));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set<unknown>();
      done.set(v, out);
      for (const item of v) out.add(visit(item, depth + 1));
      return out;
    }
    return v; // Uint8Array, PickleGlobal (a storage type or callable left in the data)
  };
  return visit(root, 0);
}

function loadZip(bytes: Uint8Array): unknown {
  const entries = new Map(readZip(bytes).map((e) => [e.name, e.data]));
  const pickleNames = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickleNames.length !== 1) {
    if (entries.has('constants.pkl') || [...entries.keys()].some((n) => n.endsWith('/constants.pkl'))) {
      throw new UnsupportedError('checkpoint: this is a TorchScript archive (torch.jit.save); save the model\'s state_dict with torch.save instead');
    }
    fail(`a zip checkpoint holds one <name>/data.pkl but this archive has ${pickleNames.length}`);
  }
  const prefix = pickleNames[0]!.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(byteorder);
    if (order === 'big') throw new UnsupportedError('checkpoint: the storages are big-endian (saved on a big-endian machine); only little-endian checkpoints are supported');
    if (order !== 'little') fail(`unknown byteorder ${JSON.stringify(order)}`);
  }
  const storages: StorageRef[] = [];
  const value = unpickle(entries.get(pickleNames[0]!)!, { hooks: checkpointHooks(false, storages), what: `checkpoint ${pickleNames[0]}` });
  const cache = new Map<string, DTypeArrays[DType]>();
  return finish(value.value, (ref) => {
    const cached = cache.get(ref.key);
    if (cached) {
      if (cached.length !== ref.rootNumel || arrayTypes[ref.dtype] !== cached.constructor) fail(`storage ${ref.key} is declared twice with different types or sizes`);
      return cached;
    }
    const name = `${prefix}data/${ref.key}`;
    const data = entries.get(name);
    if (!data) fail(`storage ${JSON.stringify(ref.key)} has no entry ${name} in the archive`);
    const expected = ref.rootNumel * dtypeSize[ref.dtype];
    if (data!.length !== expected) fail(`entry ${name} holds ${data!.length} bytes but its ${ref.rootNumel} ${ref.dtype} elements need ${expected}`);
    const typed = typedCopy(ref.dtype, data!);
    cache.set(ref.key, typed);
    return typed;
  }, bytes.length);
}

const legacyMagic = 0x1950a86a20f9469cfc6cn;

function loadLegacy(bytes: Uint8Array): unknown {
  const magic = unpickle(bytes, { what: 'legacy checkpoint magic number' });
  if (magic.value !== legacyMagic) fail('not a PyTorch checkpoint: neither a zip archive nor a pickle starting with the legacy magic number');
  const protocol = unpickle(bytes, { offset: magic.end, what: 'legacy checkpoint protocol version' });
  if (protocol.value !== 1001) fail(`legacy protocol version ${String(protocol.value)} is not 1001`);
  const sysInfo = unpickle(bytes, { offset: protocol.end, what: 'legacy checkpoint sys_info' });
  if (!(sysInfo.value instanceof Map)) fail('sys_info is not a dict');
  const littleEndian = (sysInfo.value as Map<unknown, unknown>).get('little_endian');
  if (littleEndian === false) throw new UnsupportedError('checkpoint: the storages are big-endian (saved on a big-endian machine); only little-endian checkpoints are supported');
  if (littleEndian !== true) fail('sys_info lacks little_endian');

  const storages: StorageRef[] = [];
  const object = unpickle(bytes, { offset: sysInfo.end, hooks: checkpointHooks(true, storages), what: 'legacy checkpoint object' });
  const keyList = unpickle(bytes, { offset: object.end, what: 'legacy checkpoint storage keys' });
  if (!Array.isArray(keyList.value) || !keyList.value.every((k) => typeof k === 'string')) fail('the storage key list is not a list of strings');
  const byKey = new Map<string, StorageRef>();
  for (const ref of storages) {
    const other = byKey.get(ref.key);
    if (other && (other.dtype !== ref.dtype || other.rootNumel !== ref.rootNumel)) fail(`storage ${ref.key} is declared twice with different types or sizes`);
    byKey.set(ref.key, ref);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, DTypeArrays[DType]>();
  let pos = keyList.end;
  for (const key of keyList.value as string[]) {
    const ref = byKey.get(key);
    if (!ref) fail(`storage key ${JSON.stringify(key)} is listed but no tensor uses it`);
    if (data.has(key)) fail(`storage key ${JSON.stringify(key)} is listed twice`);
    if (pos + 8 > bytes.length) fail(`storage ${key}: the element count at byte ${pos} is missing; the file is truncated`);
    const count = view.getBigInt64(pos, true);
    pos += 8;
    if (count !== BigInt(ref!.rootNumel)) fail(`storage ${key}: the data holds ${count} elements but the pickle declares ${ref!.rootNumel}`);
    const length = ref!.rootNumel * dtypeSize[ref!.dtype];
    if (pos + length > bytes.length) fail(`storage ${key}: ${length} bytes at byte ${pos} run past the end of the file (${bytes.length} bytes); the file is truncated`);
    data.set(key, typedCopy(ref!.dtype, bytes.subarray(pos, pos + length)));
    pos += length;
  }
  if (pos !== bytes.length) fail(`${bytes.length - pos} bytes follow the last storage; the file is corrupt`);
  return finish(object.value, (ref) => {
    const typed = data.get(ref.key);
    if (!typed) fail(`storage ${JSON.stringify(ref.key)} is used but missing from the storage key list`);
    return typed!;
  }, bytes.length);
}

/**
 * Parses a `torch.save` file held in memory (zip or legacy format) into plain values and
 * {@link Tensor}s; see the module description for how Python values map.
 * @throws InvalidFileError when the file is truncated, corrupt or refers to anything outside the allow-list.
 * @throws UnsupportedError for valid files this reader does not handle (big-endian, compressed, TorchScript).
 */
export function parseCheckpoint(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('a Uint8Array', 'bytes', Object.prototype.toString.call(bytes));
  return isZip(bytes) ? loadZip(bytes) : loadLegacy(bytes);
}

/**
 * Reads a `torch.save` file (a path, or its bytes) safely: nothing in it is executed.
 * @returns the whole saved object (for example `{ state_dict: {...}, epoch: 3 }`).
 * @throws InvalidFileError when the file cannot be read, is corrupt, or names a global outside {@link allowedGlobals}.
 */
export async function loadCheckpoint(pathOrBytes: string | Uint8Array): Promise<unknown> {
  if (pathOrBytes instanceof Uint8Array) return parseCheckpoint(pathOrBytes);
  if (typeof pathOrBytes !== 'string') throw invalidArgument('a file path or a Uint8Array', 'pathOrBytes', typeof pathOrBytes);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(pathOrBytes);
  } catch (cause) {
    throw new InvalidFileError(`Cannot read checkpoint ${JSON.stringify(pathOrBytes)}: ${(cause as Error).message}`, { cause });
  }
  return parseCheckpoint(bytes);
}

/** Options of {@link extractStateDict}. */
export interface ExtractStateDictOptions {
  /**
   * The key that holds the state dict in a training checkpoint. By default the object itself when
   * all its values are tensors, else the first of `state_dict`, `model_state_dict`, `model`, `net`
   * that is.
   */
  key?: string;
  /** Removes this prefix from every key that has it; `true` means `'module.'` (what `DataParallel` adds). */
  stripPrefix?: string | true;
}

const usualKeys = ['state_dict', 'model_state_dict', 'model', 'net'];

function isTensorDict(v: unknown): v is Record<string, Tensor> {
  if (v === null || typeof v !== 'object' || v instanceof Map || Array.isArray(v)) return false;
  const values = Object.values(v);
  return values.length > 0 && values.every((t) => t instanceof Tensor);
}

/**
 * Picks the state dict out of a loaded checkpoint (see {@link ExtractStateDictOptions}) and
 * optionally strips a key prefix, giving a {@link StateDict} for `model.loadStateDict`.
 * @throws InvalidArgumentError when no state dict is found (the message lists the keys there are),
 *   when it holds non-tensor values, or when stripping the prefix makes two keys equal.
 */
export function extractStateDict(checkpoint: unknown, options: ExtractStateDictOptions = {}): StateDict {
  const { key, stripPrefix } = options;
  if (key !== undefined && typeof key !== 'string') throw invalidArgument('a string', 'key', key);
  if (stripPrefix !== undefined && stripPrefix !== true && typeof stripPrefix !== 'string') {
    throw invalidArgument("a string or true", 'stripPrefix', stripPrefix);
  }
  const isObject = checkpoint !== null && typeof checkpoint === 'object' && !(checkpoint instanceof Map) && !Array.isArray(checkpoint);
  const top = isObject ? (checkpoint as Record<string, unknown>) : undefined;
  let found: unknown;
  if (key !== undefined) {
    if (!top || !Object.prototype.hasOwnProperty.call(top, key)) {
      throw invalidArgument(`a key of the checkpoint (${top ? Object.keys(top).join(', ') : pythonType(checkpoint)})`, 'key', key);
    }
    found = top[key];
  } else if (isTensorDict(checkpoint)) {
    found = checkpoint;
  } else {
    const name = usualKeys.find((k) => top && Object.prototype.hasOwnProperty.call(top, k) && isTensorDict(top[k]));
    if (name === undefined) {
      throw invalidArgument(
        `a state dict or an object holding one under ${usualKeys.join('/')} (or name it with { key })`,
        'checkpoint',
        top ? `an object with keys ${Object.keys(top).join(', ')}` : pythonType(checkpoint),
      );
    }
    found = top![name];
  }
  if (found === null || typeof found !== 'object' || found instanceof Map || Array.isArray(found)) {
    throw invalidArgument('a dict of tensors with string keys', key ?? 'checkpoint', pythonType(found));
  }
  const prefix = stripPrefix === true ? 'module.' : stripPrefix;
  const out: StateDict = {};
  for (const [name, tensor] of Object.entries(found)) {
    if (!(tensor instanceof Tensor)) throw invalidArgument('a Tensor', `state dict entry ${JSON.stringify(name)}`, pythonType(tensor));
    const stripped = prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (Object.prototype.hasOwnProperty.call(out, stripped)) {
      throw invalidArgument(`keys that stay distinct without the prefix ${JSON.stringify(prefix)}`, 'state dict', stripped);
    }
    Object.defineProperty(out, stripped, { value: tensor, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Reads a checkpoint file and extracts its state dict: {@link loadCheckpoint} then {@link extractStateDict}. */
export async function loadStateDictFile(pathOrBytes: string | Uint8Array, options?: ExtractStateDictOptions): Promise<StateDict> {
  return extractStateDict(await loadCheckpoint(pathOrBytes), options);
}

/** The hooks for reading a checkpoint's object pickle, exposed for tests. @internal */
export function checkpointPickleHooks(): PickleHooks {
  return checkpointHooks(false, []);
}
