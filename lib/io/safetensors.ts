/**
 * safetensors files (https://github.com/huggingface/safetensors): the format Hugging Face and
 * torchvision-converted checkpoints ship in.
 *
 * Layout: an 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the
 * data buffer; offsets are relative to the buffer's start, data is little-endian and row-major.
 *
 * Reading is as strict as the reference reader (the Rust crate): header at most 100,000,000 bytes;
 * tensors must tile the buffer exactly (no holes, no overlaps, no trailing bytes); each tensor's byte
 * size must equal its element count times its dtype's size. It is stricter in one way: duplicate keys
 * in the JSON are rejected (the reference keeps one silently). Data is copied into fresh, aligned
 * typed arrays (offsets in a file need not be aligned), and nothing is allocated from a size that
 * has not been checked against the file's real length.
 *
 * Writing follows the reference writer: tensors sorted by descending dtype alignment then by name,
 * the header padded with spaces to a multiple of 8 bytes so that every tensor starts aligned.
 * @module
 */
import { readFile, open, type FileHandle } from 'node:fs/promises';
import { InvalidArgumentError, InvalidFileError, UnsupportedError, invalidArgument } from '../errors.js';
import { Tensor, arrayTypes, dtypeSize, formatShape, type DType, type DTypeArrays } from '../tensor.js';
import { littleEndianBytes, swapToHostOrder } from './endian.js';
import { parseStrictJson, type JsonObject, type JsonValue } from './strict-json.js';
import type { StateDict } from '../nn/module.js';

export type { StateDict };

/** Everything a safetensors file holds: its tensors and its free-form string metadata. */
export interface SafetensorsContents {
  tensors: StateDict;
  /** The `__metadata__` map (empty when the file has none). */
  metadata: Record<string, string>;
}

/** The reference reader's limit on the JSON header. */
export const maxHeaderBytes = 100_000_000;

/** safetensors dtype names of the dtypes a {@link Tensor} can hold, in the reference's alignment order. */
const fileDTypes = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  F32: 'float32',
  F64: 'float64',
  I64: 'int64',
} as const satisfies Record<string, DType>;

type FileDType = keyof typeof fileDTypes;

/** Valid safetensors dtypes that have no {@link Tensor} counterpart: reported as unsupported, not as corrupt. */
const foreignDTypes = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

/** The reference writer's sort key: its `Dtype` enum order, which rises with alignment. */
const alignmentRank: Record<DType, number> = {
  bool: 0, uint8: 1, int8: 2, int16: 3, float16: 4, bfloat16: 5, int32: 6, float32: 7, float64: 8, int64: 9,
};

const toFileDType = Object.fromEntries(Object.entries(fileDTypes).map(([k, v]) => [v, k])) as Record<DType, FileDType>;


const u64Max = (1n << 64n) - 1n;

function describe(value: JsonValue): string {
  if (value instanceof Map) return 'an object';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `${typeof value === 'bigint' ? value.toString() : JSON.stringify(value)}`;
}

/** A JSON integer that fits a u64, or undefined. `1.0`, `-1` and `"1"` are not. */
function asU64(value: JsonValue | undefined): bigint | undefined {
  return typeof value === 'bigint' && value >= 0n && value <= u64Max ? value : undefined;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function readEntry(name: string, info: JsonValue, dataLength: number): Entry {
  const where = `safetensors header: tensor ${JSON.stringify(name)}`;
  if (!(info instanceof Map)) {
    throw new InvalidFileError(`${where}: expected an object with dtype, shape and data_offsets but found ${describe(info)}`);
  }
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!info.has(field)) throw new InvalidFileError(`${where}: the "${field}" field is missing`);
  }
  const dtypeName = info.get('dtype')!;
  if (typeof dtypeName !== 'string') throw new InvalidFileError(`${where}: dtype must be a string but is ${describe(dtypeName)}`);
  if (!Object.prototype.hasOwnProperty.call(fileDTypes, dtypeName)) {
    if (foreignDTypes.has(dtypeName)) {
      throw new UnsupportedError(`${where}: dtype ${dtypeName} is valid safetensors but not supported; convert the tensor to F32, F16 or BF16`);
    }
    throw new InvalidFileError(`${where}: unknown dtype ${JSON.stringify(dtypeName)}`);
  }
  const dtype = fileDTypes[dtypeName as FileDType];

  const rawShape = info.get('shape')!;
  if (!Array.isArray(rawShape)) throw new InvalidFileError(`${where}: shape must be an array but is ${describe(rawShape)}`);
  const shape: number[] = [];
  // The element count in u64 arithmetic, failing on overflow as the reference does.
  let numel = 1n;
  for (const d of rawShape) {
    const dim = asU64(d);
    if (dim === undefined) {
      throw new InvalidFileError(`${where}: shape must hold non-negative integers but holds ${describe(d)}`);
    }
    numel *= dim;
    if (numel > u64Max) throw new InvalidFileError(`${where}: the element count of shape [${rawShape.join(', ')}] overflows 64 bits`);
    if (dim > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidFileError(`${where}: dimension ${dim} is too large`);
    shape.push(Number(dim));
  }

  const offsets = info.get('data_offsets')!;
  const begin = Array.isArray(offsets) ? asU64(offsets[0]) : undefined;
  const end = Array.isArray(offsets) ? asU64(offsets[1]) : undefined;
  if (!Array.isArray(offsets) || offsets.length !== 2 || begin === undefined || end === undefined) {
    throw new InvalidFileError(`${where}: data_offsets must be [begin, end], two non-negative integers, but is ${describe(offsets)}${Array.isArray(offsets) ? ` [${offsets.map(describe).join(', ')}]` : ''}`);
  }
  if (end < begin) throw new InvalidFileError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > BigInt(dataLength)) {
    throw new InvalidFileError(
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes); the file is truncated or its header is wrong`,
    );
  }
  const bytes = numel * BigInt(dtypeSize[dtype]);
  if (bytes > u64Max) throw new InvalidFileError(`${where}: the byte size of shape ${formatShape(shape)} overflows 64 bits`);
  if (end - begin !== bytes) {
    throw new InvalidFileError(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtypeName} ${formatShape(shape)} needs ${bytes}`,
    );
  }
  return { name, dtype, shape, begin: Number(begin), end: Number(end) };
}

function readMetadata(value: JsonValue): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === null) return metadata;
  if (!(value instanceof Map)) throw new InvalidFileError(`safetensors header: __metadata__ must be an object of strings but is ${describe(value)}`);
  for (const [key, v] of value) {
    if (typeof v !== 'string') {
      throw new InvalidFileError(`safetensors header: __metadata__[${JSON.stringify(key)}] must be a string but is ${describe(v)}`);
    }
    defineEntry(metadata, key, v);
  }
  return metadata;
}

/** Sets an own property even for keys like `__proto__`, which plain assignment would turn into a prototype change. */
function defineEntry<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Checks that the entries, sorted by offset, tile `[0, dataLength)` exactly, as the reference requires. */
function checkCoverage(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new InvalidFileError(`safetensors header: tensor ${JSON.stringify(e.name)} at bytes [${e.begin}, ${e.end}] overlaps the tensor before it (which ends at ${covered})`);
    }
    if (e.begin > covered) {
      throw new InvalidFileError(`safetensors header: bytes [${covered}, ${e.begin}) of the data belong to no tensor (a hole before ${JSON.stringify(e.name)})`);
    }
    covered = e.end;
  }
  if (covered !== dataLength) {
    throw new InvalidFileError(`safetensors file: ${dataLength - covered} bytes after the last tensor belong to no tensor (data is ${dataLength} bytes, tensors cover ${covered})`);
  }
}

/**
 * Parses a whole safetensors file held in memory: its tensors (copied out of `bytes`) and metadata.
 * @throws InvalidFileError when the file is malformed, truncated or inconsistent (the message says how).
 * @throws UnsupportedError for valid dtypes a {@link Tensor} cannot hold (U16, U32, U64, FP8, …).
 */
export function parseSafetensorsFile(bytes: Uint8Array): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument('a Uint8Array', 'bytes', Object.prototype.toString.call(bytes));
  if (bytes.length < 8) {
    throw new InvalidFileError(`safetensors file: ${bytes.length} bytes is too short to hold the 8-byte header length`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw new InvalidFileError(`safetensors file: header length ${headerLength} exceeds the ${maxHeaderBytes}-byte limit; this is not a safetensors file or it is corrupt`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    throw new InvalidFileError(`safetensors file: header length ${n} runs past the end of the file (${bytes.length} bytes); the file is truncated`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch (cause) {
    throw new InvalidFileError('safetensors header is not valid UTF-8', { cause });
  }
  const header = parseStrictJson(text, 'safetensors header');
  if (!(header instanceof Map)) throw new InvalidFileError(`safetensors header must be a JSON object but is ${describe(header)}`);

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of header as JsonObject) {
    if (name === '__metadata__') metadata = readMetadata(info);
    else entries.push(readEntry(name, info, dataLength));
  }
  checkCoverage([...entries], dataLength);

  const tensors: StateDict = {};
  for (const e of entries) {
    // A fresh buffer is aligned for every element type, whatever the offset in the file. (Not
    // `bytes.slice`: on a Node Buffer that returns a view of the whole, possibly pooled, memory.)
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    swapToHostOrder(copy, dtypeSize[e.dtype]);
    const data = new (arrayTypes[e.dtype] as new (buffer: ArrayBuffer) => DTypeArrays[DType])(copy.buffer);
    defineEntry(tensors, e.name, Tensor.from(data, e.shape, e.dtype) as Tensor);
  }
  return { tensors, metadata };
}

/** Parses a safetensors file held in memory into a state dict. See {@link parseSafetensorsFile}. */
export function parseSafetensors(bytes: Uint8Array): StateDict {
  return parseSafetensorsFile(bytes).tensors;
}

async function readBytes(pathOrBytes: string | Uint8Array): Promise<Uint8Array> {
  if (pathOrBytes instanceof Uint8Array) return pathOrBytes;
  if (typeof pathOrBytes !== 'string') throw invalidArgument('a file path or a Uint8Array', 'pathOrBytes', typeof pathOrBytes);
  try {
    return await readFile(pathOrBytes);
  } catch (cause) {
    throw new InvalidFileError(`Cannot read safetensors file ${JSON.stringify(pathOrBytes)}: ${(cause as Error).message}`, { cause });
  }
}

/** Reads a safetensors file (or bytes already in memory): tensors and metadata. */
export async function loadSafetensorsFile(pathOrBytes: string | Uint8Array): Promise<SafetensorsContents> {
  return parseSafetensorsFile(await readBytes(pathOrBytes));
}

/**
 * Reads a safetensors file (or bytes already in memory) into a state dict whose keys are the file's
 * tensor names and whose tensors keep the file's dtypes.
 * @throws InvalidFileError when the file cannot be read or is malformed.
 * @example
 * ```ts
 * import { loadSafetensors, resnet50 } from 'resnet-cudnn';
 * const stateDict = await loadSafetensors('resnet50.safetensors');   // Record<string, Tensor>, the file's dtypes
 * const model = resnet50();
 * model.loadStateDict(stateDict);                              // strict: every key, every shape
 * ```
 */
export async function loadSafetensors(pathOrBytes: string | Uint8Array): Promise<StateDict> {
  return (await loadSafetensorsFile(pathOrBytes)).tensors;
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Planned {
  header: Uint8Array;
  tensors: { name: string; tensor: Tensor }[];
  dataLength: number;
}

/** Validates the arguments and lays the file out as the reference writer does. */
function plan(stateDict: StateDict, metadata: Record<string, string> | undefined): Planned {
  if (typeof stateDict !== 'object' || stateDict === null) throw invalidArgument('an object of tensors', 'stateDict', stateDict);
  const tensors: { name: string; tensor: Tensor }[] = [];
  for (const [name, tensor] of Object.entries(stateDict)) {
    if (!(tensor instanceof Tensor)) throw invalidArgument('a Tensor', `stateDict[${JSON.stringify(name)}]`, typeof tensor);
    if (name === '__metadata__') throw new InvalidArgumentError('A tensor cannot be named "__metadata__": safetensors reserves that key');
    if (loneSurrogate.test(name)) throw invalidArgument('a name that is valid Unicode', 'tensor name', name);
    tensors.push({ name, tensor });
  }
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) {
    throw invalidArgument('an object of strings', 'metadata', metadata);
  }
  const metaEntries = Object.entries(metadata ?? {});
  for (const [key, value] of metaEntries) {
    if (typeof value !== 'string') throw invalidArgument('a string', `metadata[${JSON.stringify(key)}]`, value);
    if (loneSurrogate.test(key) || loneSurrogate.test(value)) throw invalidArgument('valid Unicode', `metadata[${JSON.stringify(key)}]`, value);
  }
  tensors.sort((a, b) => alignmentRank[b.tensor.dtype] - alignmentRank[a.tensor.dtype] || compareUtf8(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(metaEntries))}`);
  let offset = 0;
  for (const { name, tensor } of tensors) {
    const size = tensor.data.byteLength;
    const info = `{"dtype":"${toFileDType[tensor.dtype]}","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${offset + size}]}`;
    parts.push(`${JSON.stringify(name)}:${info}`);
    offset += size;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Pad with spaces to a multiple of 8 so that every tensor in the buffer starts aligned.
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);
  return { header, tensors, dataLength: offset };
}

/**
 * Encodes a state dict (and optional string metadata) as a safetensors file in memory.
 * Tensors keep their dtypes; the layout matches the reference writer's byte for byte.
 */
export function serializeSafetensors(stateDict: StateDict, metadata?: Record<string, string>): Uint8Array {
  const { header, tensors, dataLength } = plan(stateDict, metadata);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header);
  let offset = header.length;
  for (const { tensor } of tensors) {
    out.set(littleEndianBytes(tensor.data), offset);
    offset += tensor.data.byteLength;
  }
  return out;
}

/** `FileHandle.write` may write less than asked; loop until every byte is out. */
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/**
 * Writes a state dict (and optional string metadata) to a safetensors file, tensor by tensor
 * (the file's bytes are never all held in memory at once).
 */
export async function saveSafetensors(path: string, stateDict: StateDict, metadata?: Record<string, string>): Promise<void> {
  if (typeof path !== 'string') throw invalidArgument('a file path', 'path', typeof path);
  const { header, tensors } = plan(stateDict, metadata);
  const file = await open(path, 'w');
  try {
    await writeAll(file, header);
    for (const { tensor } of tensors) await writeAll(file, littleEndianBytes(tensor.data));
  } finally {
    await file.close();
  }
}
