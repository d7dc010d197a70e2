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

/** One container met by {@link jsonNestingBeyond}'s walk, linked to its parent to rebuild the path. */
interface Visit {
  value: object;
  depth: number;
  step: string;
  parent: Visit | null;
}

/** Path characters shown: a hostile path (64 levels of long keys) must not bloat an error message. */
const shownPathChars = 120;

/**
 * Where an already parsed JSON value (from `JSON.parse`, whose parser does not recurse) nests arrays and
 * objects more than `limit` levels deep: the path of the first container past the limit (`inputs[0].data[0]`,
 * cut to 120 characters; empty only with a `limit` of 0), or null when it stays within. The top-level container is
 * level 1, as in {@link parseStrictJson}. The walk is iterative and stops at the limit, so a value nested
 * 200,000 levels costs 65 steps down and no stack.
 */
export function jsonNestingBeyond(value: unknown, limit = maxJsonDepth): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const pending: Visit[] = [{ value, depth: 1, step: '', parent: null }];
  for (let visit = pending.pop(); visit !== undefined; visit = pending.pop()) {
    if (visit.depth > limit) return pathOf(visit);
    if (Array.isArray(visit.value)) pushItems(visit.value, visit, pending);
    else pushFields(visit.value as Record<string, unknown>, visit, pending);
  }
  return null;
}

/** The containers among an array's items. */
function pushItems(items: unknown[], parent: Visit, pending: Visit[]): void {
  for (let i = typeof items[0] === 'number' ? leadingNumbers(items) : 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item === 'object' && item !== null) pending.push({ value: item, depth: parent.depth + 1, step: `[${i}]`, parent });
  }
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

function pushFields(fields: Record<string, unknown>, parent: Visit, pending: Visit[]): void {
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    if (typeof field === 'object' && field !== null) pending.push({ value: field, depth: parent.depth + 1, step: `.${key.slice(0, 24)}`, parent });
  }
}

function pathOf(visit: Visit): string {
  const steps: string[] = [];
  for (let at: Visit | null = visit; at !== null; at = at.parent) steps.push(at.step);
  const path = steps.reverse().join('').replace(/^\./, '');
  return path.length <= shownPathChars ? path : `${path.slice(0, shownPathChars - 1)}…`;
}
