/**
 * Writing state dicts as PyTorch zip checkpoints (the `torch.save` format of PyTorch ≥ 1.6), so that
 * `torch.load` reads our output: `archive/data.pkl` (a protocol-2 pickle of an `OrderedDict` of
 * `_rebuild_tensor_v2` calls), `archive/byteorder`, one `archive/data/<i>` entry per tensor (raw
 * little-endian, contiguous) and `archive/version`.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { InvalidFileError, invalidArgument } from '../errors.js';
import { Tensor, type DType } from '../tensor.js';
import { littleEndianBytes } from './endian.js';
import { writeZip, type ZipEntry } from './zip.js';
import { storageDTypes } from './torch.js';
import type { StateDict } from '../nn/module.js';

const storageClassOf = Object.fromEntries(Object.entries(storageDTypes).map(([cls, dtype]) => [dtype, cls])) as Record<DType, string>;

/** Emits the handful of pickle opcodes a state dict needs. */
class PickleWriter {
  private readonly chunks: number[] = [];
  private readonly encoder = new TextEncoder();

  op(...bytes: number[]): this {
    for (const b of bytes) this.chunks.push(b);
    return this;
  }
  raw(bytes: Uint8Array): this {
    for (const b of bytes) this.chunks.push(b);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63).raw(this.encoder.encode(`${module}\n${name}\n`)); // GLOBAL
  }
  str(value: string): this {
    const bytes = this.encoder.encode(value);
    const header = new DataView(new ArrayBuffer(4));
    header.setUint32(0, bytes.length, true);
    return this.op(0x58).raw(new Uint8Array(header.buffer)).raw(bytes); // BINUNICODE
  }
  int(value: number): this {
    if (value >= 0 && value < 256) return this.op(0x4b, value); // BININT1
    if (value >= -(2 ** 31) && value < 2 ** 31) {
      const b = new DataView(new ArrayBuffer(4));
      b.setInt32(0, value, true);
      return this.op(0x4a).raw(new Uint8Array(b.buffer)); // BININT
    }
    // LONG1: minimal two's-complement little-endian bytes.
    const out: number[] = [];
    let v = BigInt(value);
    do {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    } while (!((v === 0n && (out[out.length - 1]! & 0x80) === 0) || (v === -1n && (out[out.length - 1]! & 0x80) !== 0)));
    return this.op(0x8a, out.length, ...out);
  }
  tuple(items: readonly number[]): this {
    this.op(0x28); // MARK
    for (const d of items) this.int(d);
    return this.op(0x74); // TUPLE
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/**
 * Encodes a state dict as a PyTorch zip checkpoint in memory; `torch.load` returns an
 * `OrderedDict` of the same names, shapes, dtypes and values.
 */
export function serializeCheckpoint(stateDict: StateDict | ReadonlyMap<string, Tensor>): Uint8Array {
  if (typeof stateDict !== 'object' || stateDict === null) throw invalidArgument('an object of tensors', 'stateDict', stateDict);
  const items: [unknown, unknown][] = stateDict instanceof Map ? [...(stateDict as ReadonlyMap<string, Tensor>)] : Object.entries(stateDict);
  const p = new PickleWriter().op(0x80, 2); // PROTO 2
  p.global('collections', 'OrderedDict').op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  const storages: ZipEntry[] = [];
  p.op(0x28); // MARK for SETITEMS
  items.forEach(([name, tensor], i) => {
    if (typeof name !== 'string') throw invalidArgument('string keys', 'stateDict', typeof name);
    if (!(tensor instanceof Tensor)) throw invalidArgument('a Tensor', `stateDict[${JSON.stringify(name)}]`, typeof tensor);
    const key = String(i);
    p.str(name);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op(0x28); // MARK: the argument tuple
    p.op(0x28).str('storage').global('torch', storageClassOf[(tensor as Tensor).dtype]).str(key).str('cpu').int(tensor.numel).op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0).tuple(tensor.shape).tuple(contiguousStrides(tensor.shape));
    p.op(0x89); // NEWFALSE: requires_grad
    p.global('collections', 'OrderedDict').op(0x29, 0x52); // backward hooks: OrderedDict()
    p.op(0x74, 0x52); // TUPLE, REDUCE
    storages.push({ name: `archive/data/${key}`, data: littleEndianBytes(tensor.data) });
  });
  p.op(0x75, 0x2e); // SETITEMS, STOP
  const text = new TextEncoder();
  return writeZip([
    { name: 'archive/data.pkl', data: p.bytes() },
    { name: 'archive/byteorder', data: text.encode('little') },
    ...storages,
    { name: 'archive/version', data: text.encode('3\n') },
  ]);
}

/** Writes a state dict to `path` as a PyTorch zip checkpoint that `torch.load` reads. */
export async function saveCheckpoint(stateDict: StateDict | ReadonlyMap<string, Tensor>, path: string): Promise<void> {
  if (typeof path !== 'string') throw invalidArgument('a file path', 'path', typeof path);
  const bytes = serializeCheckpoint(stateDict);
  try {
    await writeFile(path, bytes);
  } catch (cause) {
    throw new InvalidFileError(`Cannot write checkpoint ${JSON.stringify(path)}: ${(cause as Error).message}`, { cause });
  }
}
