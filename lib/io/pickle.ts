/**
 * A restricted Python unpickler: it reads the opcodes of pickle protocols 2–5 that `torch.save` emits
 * (and a few more Python writes for plain data) and builds JavaScript values. It never executes
 * anything: every `GLOBAL` goes through {@link PickleHooks.findGlobal}, which refuses all names by
 * default, and every call (`REDUCE`, `NEWOBJ`) through {@link PickleHooks.call}.
 *
 * Values: `None` → `null`; bool → boolean; int → number when safe, bigint beyond 2^53; float →
 * number; str → string; bytes/bytearray → Uint8Array; list → array; tuple → frozen array;
 * dict → `Map`; set/frozenset → `Set`; an allowed global → a {@link PickleGlobal}.
 *
 * Hostile input is bounded: every length field is checked against the bytes that remain before
 * anything is allocated, and the stack, the mark stack (nesting) and the memo have limits.
 * @module
 */
import { InvalidFileError } from '../errors.js';

/** A global (`module.name`) that {@link PickleHooks.findGlobal} allowed: an opaque reference. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {
    Object.freeze(this);
  }
  /** `module.name`, as Python spells it. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** How the unpickler resolves the parts of a pickle that refer to code or to outside data. */
export interface PickleHooks {
  /** Resolves `GLOBAL`/`STACK_GLOBAL`; throws to refuse (the default refuses every global). */
  findGlobal?(module: string, name: string): unknown;
  /** Performs `REDUCE` and `NEWOBJ`: `callable(...args)`; the default refuses. */
  call?(callable: unknown, args: readonly unknown[]): unknown;
  /** Performs `BUILD` (`obj.__setstate__(state)`); returns the built object. The default refuses. */
  build?(obj: unknown, state: unknown): unknown;
  /** Resolves `BINPERSID` (`persistent_load(pid)`); the default refuses. */
  persistentLoad?(pid: unknown): unknown;
}

/** Limits on what one pickle may make the unpickler hold. */
export interface PickleLimits {
  /** Values on the stack at once. */
  maxStack?: number;
  /** Open `MARK`s at once (the nesting of tuples, lists and calls being built). */
  maxMarks?: number;
  /** Entries in the memo. */
  maxMemo?: number;
}

/** What {@link unpickle} returns: the value and the offset just past its `STOP`. */
export interface UnpickleResult {
  value: unknown;
  end: number;
}

const defaultLimits: Required<PickleLimits> = { maxStack: 1_000_000, maxMarks: 1_000, maxMemo: 1_000_000 };

/** A where-prefix for messages: `pickle at byte 123`. */
function at(what: string, offset: number): string {
  return `${what} at byte ${offset}`;
}

/** Describes a value's Python type in messages. */
export function pythonType(value: unknown): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'string') return 'str';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return Object.isFrozen(value) ? 'tuple' : 'list';
  if (value instanceof Map) return 'dict';
  if (value instanceof Set) return 'set';
  if (value instanceof PickleGlobal) return value.qualifiedName;
  return (value as object)?.constructor?.name ?? typeof value;
}

/** The longest module or global name a GLOBAL opcode may carry. */
const maxNameLength = 1024;

/**
 * The longest LONG1/LONG4 integer, in bytes. A state dict holds at most 64-bit ints (8 bytes); the
 * bound is generous, and it refuses a hostile LONG4 (up to 2 GiB of digits) before any decoding.
 */
export const maxLongBytes = 64;

/** Two lowercase hex digits per byte value, so that decoding an int is one pass over its bytes. */
const hexByte = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A two's-complement little-endian integer (LONG1/LONG4's payload) in one linear pass. */
function signedLittleEndian(raw: Uint8Array): bigint {
  if (raw.length === 0) return 0n;
  let hex = '';
  for (let i = raw.length - 1; i >= 0; i--) hex += hexByte[raw[i]!];
  return BigInt.asIntN(8 * raw.length, BigInt(`0x${hex}`));
}

/** Python's latin-1: each byte is the code point of the same value (unlike TextDecoder's 'latin1', which is windows-1252). */
function latin1(raw: Uint8Array): string {
  let out = '';
  // Chunks keep the spread under the engine's argument limit; the whole is one pass.
  for (let i = 0; i < raw.length; i += 8192) out += String.fromCharCode(...raw.subarray(i, i + 8192));
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Names of the opcodes this reader knows but refuses, so the message says what the file asked for. */
const refusedOpcodes: Record<number, string> = {
  0x50: 'PERSID (protocol 0)',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x92: 'NEWOBJ_EX',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
  0x49: 'INT (protocol 0)',
  0x4c: 'LONG (protocol 0)',
  0x46: 'FLOAT (protocol 0)',
  0x53: 'STRING (protocol 0)',
  0x56: 'UNICODE (protocol 0)',
  0x67: 'GET (protocol 0)',
  0x70: 'PUT (protocol 0)',
};

/**
 * Reads one pickle from `bytes` starting at `offset`, up to and including its `STOP` opcode.
 * @param what names the pickle in error messages (`"checkpoint data.pkl"`).
 * @throws InvalidFileError for truncated or malformed input, an unknown opcode, a refused global or
 *   call, or a limit exceeded; the message names the byte offset and the reason.
 */
export function unpickle(
  bytes: Uint8Array,
  options: { offset?: number; hooks?: PickleHooks; limits?: PickleLimits; what?: string } = {},
): UnpickleResult {
  const what = options.what ?? 'pickle';
  const hooks = options.hooks ?? {};
  const limits = { ...defaultLimits, ...options.limits };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = options.offset ?? 0;
  let opStart = pos;

  const fail = (message: string): never => {
    throw new InvalidFileError(`${at(what, opStart)}: ${message}`);
  };
  const need = (n: number | bigint, field: string): number => {
    const remaining = bytes.length - pos;
    if (n < 0 || n > remaining) {
      fail(`${field} of ${n} bytes runs past the end of the data (${remaining} bytes left); the file is truncated or corrupt`);
    }
    return Number(n);
  };
  const take = (n: number | bigint, field: string): Uint8Array => {
    const len = need(n, field);
    const out = bytes.subarray(pos, pos + len);
    pos += len;
    return out;
  };
  const u8 = (): number => {
    need(1, 'a 1-byte argument');
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2, 'a 2-byte argument');
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = (): number => {
    need(4, 'a 4-byte argument');
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const i32 = (): number => {
    need(4, 'a 4-byte argument');
    pos += 4;
    return view.getInt32(pos - 4, true);
  };
  const u64 = (): bigint => {
    need(8, 'an 8-byte argument');
    pos += 8;
    return view.getBigUint64(pos - 8, true);
  };
  const text = (raw: Uint8Array): string => {
    try {
      return utf8.decode(raw);
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const line = (field: string): string => {
    // Python names are short; the bound also keeps the decoding below cheap on a hostile line.
    const end = bytes.subarray(pos, pos + maxNameLength + 1).indexOf(0x0a) + pos;
    if (end < pos) {
      fail(bytes.length - pos > maxNameLength ? `${field} is longer than ${maxNameLength} bytes` : `${field} has no terminating newline; the file is truncated`);
    }
    const raw = bytes.subarray(pos, end);
    pos = end + 1;
    // GLOBAL names are ASCII identifiers; anything else is corrupt.
    for (const c of raw) if (c < 0x20 || c > 0x7e) fail(`${field} holds a non-printable byte`);
    return String.fromCharCode(...raw);
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const push = (v: unknown): void => {
    if (stack.length >= limits.maxStack) fail(`more than ${limits.maxStack} values on the stack`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) {
      fail('the stack is empty (or only a MARK is left) where the opcode needs a value');
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) {
      fail('the stack is empty where the opcode needs a value');
    }
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('the opcode needs a MARK but none is open');
    return stack.splice(m!);
  };
  const memoPut = (index: number): void => {
    if (!memo.has(index) && memo.size >= limits.maxMemo) fail(`more than ${limits.maxMemo} memo entries`);
    memo.set(index, top());
  };
  const memoGet = (index: number): void => {
    if (!memo.has(index)) fail(`memo entry ${index} is read before it is written`);
    push(memo.get(index));
  };
  const asList = (v: unknown, op: string): unknown[] => {
    if (!Array.isArray(v) || Object.isFrozen(v)) fail(`${op} needs a list but found a ${pythonType(v)}`);
    return v as unknown[];
  };
  const asDict = (v: unknown, op: string): Map<unknown, unknown> => {
    if (!(v instanceof Map)) fail(`${op} needs a dict but found a ${pythonType(v)}`);
    return v as Map<unknown, unknown>;
  };
  const hashable = (k: unknown): unknown => {
    if (k instanceof Map || k instanceof Set || (Array.isArray(k) && !Object.isFrozen(k))) {
      fail(`a ${pythonType(k)} cannot be a dict key or set member (unhashable)`);
    }
    // Python treats 1 and 1n (and True) as the same key; keep one JavaScript spelling per int.
    if (typeof k === 'bigint' && k >= BigInt(Number.MIN_SAFE_INTEGER) && k <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(k);
    return k;
  };
  const int = (v: bigint): number | bigint =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const long = (n: number, op: string): number | bigint => {
    // Refused before take(): neither the bytes nor their decoding are touched.
    if (n > maxLongBytes) fail(`${op} integer of ${n} bytes is longer than ${maxLongBytes} bytes; a checkpoint holds no such int, so the file is corrupt or hostile`);
    return int(signedLittleEndian(take(n, `a ${op}`)));
  };
  const resolveGlobal = (module: string, name: string): void => {
    if (!hooks.findGlobal) fail(`refusing to load global ${module}.${name}: this pickle may not refer to code`);
    push(hooks.findGlobal!(module, name));
  };
  const call = (callable: unknown, args: unknown, op: string): void => {
    if (!Array.isArray(args) || !Object.isFrozen(args)) fail(`${op} needs an argument tuple but found a ${pythonType(args)}`);
    if (!(callable instanceof PickleGlobal)) fail(`${op} of a ${pythonType(callable)}, which is not callable`);
    if (!hooks.call) fail(`refusing to call ${(callable as PickleGlobal).qualifiedName}`);
    push(hooks.call!(callable, args as unknown[]));
  };

  for (;;) {
    opStart = pos;
    if (pos >= bytes.length) fail('the pickle ends without a STOP opcode; the file is truncated');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`pickle protocol ${proto} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a length hint; the frame's opcodes follow inline.
        need(u64(), 'a FRAME');
        break;
      case 0x2e: // STOP
        if (marks.length > 0) fail('STOP while a MARK is still open');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack (expected 1)`);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        if (marks.length >= limits.maxMarks) fail(`nesting deeper than ${limits.maxMarks} MARKs`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(long(u8(), 'LONG1')); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail(`LONG4 has a negative length ${n}`);
        push(long(n, 'LONG4'));
        break;
      }
      case 0x47: { // BINFLOAT: big-endian float64
        need(8, 'a BINFLOAT');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x8c: push(text(take(u8(), 'a SHORT_BINUNICODE'))); break;
      case 0x58: push(text(take(u32(), 'a BINUNICODE'))); break;
      case 0x8d: push(text(take(u64(), 'a BINUNICODE8'))); break;
      // Python 2 byte strings (old checkpoints): latin-1, as torch.load(encoding='latin1') reads them.
      case 0x55: push(latin1(take(u8(), 'a SHORT_BINSTRING'))); break;
      case 0x54: {
        const n = i32();
        if (n < 0) fail(`BINSTRING has a negative length ${n}`);
        push(latin1(take(n, 'a BINSTRING')));
        break;
      }
      case 0x43: push(take(u8(), 'a SHORT_BINBYTES').slice()); break;
      case 0x42: push(take(u32(), 'a BINBYTES').slice()); break;
      case 0x8e: push(take(u64(), 'a BINBYTES8').slice()); break;
      case 0x96: push(take(u64(), 'a BYTEARRAY8').slice()); break;
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x6c: push(popMark()); break; // LIST
      case 0x74: push(Object.freeze(popMark())); break; // TUPLE
      case 0x85: push(Object.freeze([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x91: push(Object.freeze(new Set(popMark().map(hashable)))); break; // FROZENSET
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2 !== 0) fail('DICT with an odd number of items');
        const d = new Map<unknown, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        push(d);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        asList(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = asList(top(), 'APPENDS');
        for (const v of items) list.push(v);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        asDict(top(), 'SETITEM').set(hashable(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
        const d = asDict(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set) || Object.isFrozen(s)) fail(`ADDITEMS needs a set but found a ${pythonType(s)}`);
        for (const v of items) (s as Set<unknown>).add(hashable(v));
        break;
      }
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = line('the GLOBAL module name');
        const name = line('the GLOBAL name');
        resolveGlobal(module, name);
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        resolveGlobal(module as string, name as string);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        call(pop(), args, 'REDUCE');
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        call(pop(), args, 'NEWOBJ');
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        if (!hooks.build) fail(`refusing to BUILD a ${pythonType(obj)}`);
        push(hooks.build!(obj, state));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!hooks.persistentLoad) fail('refusing a persistent id (BINPERSID): this pickle may not refer to outside data');
        push(hooks.persistentLoad!(pid));
        break;
      }
      default: {
        const name = refusedOpcodes[op];
        fail(
          name
            ? `opcode ${name} (0x${op.toString(16)}) is not supported`
            : `unknown opcode 0x${op.toString(16).padStart(2, '0')}; this is not a pickle or it is corrupt`,
        );
      }
    }
  }
}
