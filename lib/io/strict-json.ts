/**
 * A strict JSON reader for file headers. `JSON.parse` is too forgiving for untrusted files: it keeps
 * the last of duplicate keys (so two readers of the same file can disagree about its contents), it
 * rounds large integers silently, and a key named `__proto__` lands on a plain object. This reader
 * rejects duplicate keys, returns integer literals as exact `bigint`s, keeps objects in `Map`s and
 * bounds the nesting depth, so a hostile header cannot overflow the stack.
 * @module
 * @internal
 */
import { InvalidFileError } from '../errors.js';

/** A JSON object: keys in file order, never merged with a prototype. */
export type JsonObject = Map<string, JsonValue>;

/**
 * A parsed JSON value. Integer literals (`12`, `-3`) are `bigint`s, exact at any size; other numbers
 * (`1.5`, `1e3`, `-0`) are `number`s, so a caller that needs an integer can tell `1.0` from `1`.
 */
export type JsonValue = null | boolean | string | number | bigint | JsonValue[] | JsonObject;

/**
 * Deeper nesting than any real header or request needs; bounds the recursion on hostile input (the reader
 * recurses at most this deep) and the depth of values a caller walks after `JSON.parse`.
 */
export const maxJsonDepth = 64;

const whitespace = /[ \t\n\r]*/y;
const hexDigits = /^[0-9a-fA-F]{4}$/;
const numberToken = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

class Reader {
  pos = 0;
  constructor(
    private readonly text: string,
    private readonly what: string,
  ) {}

  fail(problem: string): never {
    throw new InvalidFileError(`${this.what} is not valid JSON: ${problem} at position ${this.pos}`);
  }

  skipWhitespace(): void {
    whitespace.lastIndex = this.pos;
    whitespace.test(this.text);
    this.pos = whitespace.lastIndex;
  }

  match(pattern: RegExp): RegExpExecArray | null {
    pattern.lastIndex = this.pos;
    const m = pattern.exec(this.text);
    if (m) this.pos = pattern.lastIndex;
    return m;
  }

  value(depth: number): JsonValue {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"') return this.string();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    const m = this.match(numberToken);
    if (!m) this.fail(c === undefined ? 'unexpected end of text' : `unexpected character ${JSON.stringify(c)}`);
    const isInteger = m[1] === undefined && m[2] === undefined && m[0] !== '-0';
    return isInteger ? BigInt(m[0]) : Number(m[0]);
  }

  /** Scans a string literal by hand: a regular expression would backtrack on a long hostile one. */
  string(): string {
    const start = this.pos;
    let escaped = false;
    for (let i = start + 1; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 0x22) {
        this.pos = i + 1;
        const literal = this.text.slice(start, i + 1);
        // The literal is valid JSON by now; JSON.parse decodes its escapes.
        return escaped ? (JSON.parse(literal) as string) : literal.slice(1, -1);
      }
      if (c < 0x20) {
        this.pos = i;
        this.fail('raw control character in a string');
      }
      if (c === 0x5c) {
        escaped = true;
        const e = this.text[i + 1];
        if (e === 'u' && hexDigits.test(this.text.slice(i + 2, i + 6))) i += 5;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 1;
        else {
          this.pos = i;
          this.fail('bad escape in a string');
        }
      }
    }
    this.fail('unterminated string');
  }

  expect(c: string): void {
    this.skipWhitespace();
    if (this.text[this.pos] !== c) this.fail(`expected ${JSON.stringify(c)}`);
    this.pos++;
  }

  /** True (and consumes it) when the next non-blank character is `c`. */
  peek(c: string): boolean {
    this.skipWhitespace();
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  object(depth: number): JsonObject {
    if (depth > maxJsonDepth) this.fail(`nesting deeper than ${maxJsonDepth} levels`);
    this.pos++;
    const out: JsonObject = new Map();
    if (this.peek('}')) return out;
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const keyAt = this.pos;
      const key = this.string();
      if (out.has(key)) {
        this.pos = keyAt;
        this.fail(`duplicate key ${JSON.stringify(key)}`);
      }
      this.expect(':');
      out.set(key, this.value(depth));
      if (this.peek('}')) return out;
      this.expect(',');
    }
  }

  array(depth: number): JsonValue[] {
    if (depth > maxJsonDepth) this.fail(`nesting deeper than ${maxJsonDepth} levels`);
    this.pos++;
    const out: JsonValue[] = [];
    if (this.peek(']')) return out;
    for (;;) {
      out.push(this.value(depth));
      if (this.peek(']')) return out;
      this.expect(',');
    }
  }
}

/**
 * Parses one JSON document strictly (RFC 8259 grammar, no duplicate keys).
 * @param what - names the text in error messages, e.g. `'safetensors header'`.
 * @throws InvalidFileError on any syntax error, duplicate key or excessive nesting.
 */
export function parseStrictJson(text: string, what: string): JsonValue {
  const reader = new Reader(text, what);
  const value = reader.value(0);
  reader.skipWhitespace();
  if (reader.pos !== text.length) reader.fail('unexpected text after the JSON value');
  return value;
}

/** Path characters shown: a hostile path (64 levels of long keys) must not bloat an error message. */
const shownPathChars = 120;

/**
 * Where an already parsed JSON value (from `JSON.parse`, whose parser does not recurse) nests arrays and
 * objects more than `limit` levels deep: the path of the first container past the limit in document order
 * (`inputs[0].data[0]`, cut to 120 characters; empty only with a `limit` of 0), or null when it stays within.
 * The top-level container is level 1, as in {@link parseStrictJson}. The walk is depth-first over a stack of at
 * most `limit` levels, reused for every container, and stops at the limit: a value nested 200,000 levels costs
 * 65 steps down and no call stack, and a wide value allocates nothing per container (a walk that queued an
 * object per container took 150–200 ms per MB of `[{},{},…]`, longer than `JSON.parse` itself; this one
 * 10–25 ms).
 */
export function jsonNestingBeyond(value: unknown, limit = maxJsonDepth): string | null {
  if (typeof value !== 'object' || value === null) return null;
  if (limit < 1) return '';
  // Level d (0-based) of the walk: its container, its keys (null for an array) and where it has got to.
  const containers: object[] = [value];
  const keys: (string[] | null)[] = [Array.isArray(value) ? null : Object.keys(value)];
  const next: number[] = [0];
  let level = 0;
  while (level >= 0) {
    const child = nextContainer(containers[level]!, keys[level]!, next, level);
    if (child === null) {
      level--;
    } else if (level + 1 >= limit) {
      return pathOf(keys, next, level + 1);
    } else {
      level++;
      containers[level] = child;
      keys[level] = Array.isArray(child) ? null : Object.keys(child);
      next[level] = 0;
    }
  }
  return null;
}

/** The next container among the items or fields of `container` from `next[level]` on (advancing it past), or null. */
function nextContainer(container: object, names: string[] | null, next: number[], level: number): object | null {
  let i = next[level]!;
  if (names === null) {
    const items = container as unknown[];
    if (i === 0 && typeof items[0] === 'number') i = leadingNumbers(items);
    for (; i < items.length; i++) {
      const item = items[i];
      if (typeof item === 'object' && item !== null) {
        next[level] = i + 1;
        return item;
      }
    }
  } else {
    const fields = container as Record<string, unknown>;
    for (; i < names.length; i++) {
      const field = fields[names[i]!];
      if (typeof field === 'object' && field !== null) {
        next[level] = i + 1;
        return field;
      }
    }
  }
  next[level] = i;
  return null;
}

/**
 * How many items lead with numbers. `data` arrays of a million doubles are skipped in a loop that only
 * sees arrays starting with a number (SMI or double arrays), which V8 reads without boxing; in a loop that
 * also reads arrays of objects each double is boxed (measured on a 196,608-element FP32 request after
 * JSON.parse: 8 to 10 ms instead of 0.15 ms).
 */
function leadingNumbers(items: unknown[]): number {
  let i = 0;
  while (i < items.length && typeof items[i] === 'number') i++;
  return i;
}

/** The path down the walk's first `levels` levels, each at the item or field it last entered. */
function pathOf(keys: readonly (string[] | null)[], next: readonly number[], levels: number): string {
  let path = '';
  for (let level = 0; level < levels && path.length <= shownPathChars; level++) {
    const names = keys[level]!;
    const at = next[level]! - 1;
    path += names === null ? `[${at}]` : `${level === 0 ? '' : '.'}${names[at]!.slice(0, 24)}`;
  }
  return path.length <= shownPathChars ? path : `${path.slice(0, shownPathChars - 1)}…`;
}
