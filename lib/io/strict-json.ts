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

/** Deeper nesting than any real header needs; bounds the recursion on hostile input. */
const maxDepth = 64;

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
    if (depth > maxDepth) this.fail(`nesting deeper than ${maxDepth} levels`);
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
    if (depth > maxDepth) this.fail(`nesting deeper than ${maxDepth} levels`);
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
