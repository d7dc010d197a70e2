/**
 * A request's JSON, parsed and held to the protocol's nesting bound: one place for the two bodies that carry
 * JSON (the inference header and the shared-memory register body), so both refuse in the same words.
 * @module
 */
import { jsonNestingBeyond, maxJsonDepth } from '../io/strict-json.js';
import { badRequest, payloadTooLarge } from './http-error.js';

/** What a refusal of JSON too large or too costly tells the client to do instead. */
export const jsonAdvice = 'send tensors as binary data (the binary tensor extension, with Inference-Header-Content-Length), or raise the limit';

/** What one separator of each kind counts in {@link jsonValueCount}: roughly what parsing what follows it costs. */
export const jsonValueWeights = Object.freeze({ value: 1, container: 8, key: 64 });

/** Each separator's weight (the rest weigh 0). */
const separatorWeights = (() => {
  const weights = new Uint8Array(256);
  weights[0x2c] = jsonValueWeights.value; // ','
  weights[0x5b] = jsonValueWeights.container; // '['
  weights[0x7b] = jsonValueWeights.container; // '{'
  weights[0x3a] = jsonValueWeights.key; // ':'
  return weights;
})();

/** The index of the `"` that ends the string whose contents start at `from`, or the end of `bytes`. */
function stringEnd(bytes: Uint8Array, from: number): number {
  for (let quote = bytes.indexOf(0x22, from); quote !== -1; quote = bytes.indexOf(0x22, quote + 1)) {
    let backslashes = 0;
    while (quote - backslashes - 1 >= from && bytes[quote - backslashes - 1] === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
  return bytes.length;
}

/**
 * What parsing `bytes` as JSON costs, in values, counted from its separators outside strings without parsing:
 * each `,` counts 1 (a value), each `[` or `{` 8 (a container), each `:` 64 (an object key). The weights follow
 * what V8's `JSON.parse` and the nesting check cost per item, measured with `npm run bench:json` on a 2-core AMD
 * EPYC VM: about 0.06–0.16 µs a number or short string, 0.25 µs an array or object, and 0.4–0.7 µs an object key
 * (more in larger objects). So a tensor of N numbers counts N, and base64 images count one each. Strings are
 * skipped with a native search, so counting costs a few ms for 4 MiB of numbers and almost nothing for base64.
 */
export function jsonValueCount(bytes: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x22) i = stringEnd(bytes, i + 1);
    else count += separatorWeights[byte]!;
  }
  return count;
}

/**
 * Refuses, before anything parses it, JSON that counts more than `maxJsonValues` ({@link jsonValueCount}).
 * @throws HttpError 413 naming the count, the limit and what to send instead.
 */
export function checkJsonValueCount(bytes: Uint8Array, what: string, maxJsonValues: number): void {
  const count = jsonValueCount(bytes);
  if (count > maxJsonValues) {
    throw payloadTooLarge(`${what} counts ${count} JSON values (a number or string 1, an array or object 8, a key 64), more than `
      + `the limit of ${maxJsonValues} (maxJsonValues, --max-json-values): ${jsonAdvice}`);
  }
}

/**
 * `JSON.parse(text)` (fast on multi-MB `data` arrays), then the depth checked without recursion.
 * @param what  the body, for the messages (`the inference request header (123 bytes)`)
 * @param hint  what to send instead, after a depth refusal
 * @throws HttpError 400 for malformed JSON, or nesting past {@link maxJsonDepth} levels (with the path).
 */
export function parseRequestJson(text: string, what: string, hint: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw badRequest(`malformed JSON in ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const tooDeep = jsonNestingBeyond(parsed);
  if (tooDeep !== null) {
    throw badRequest(`${what} nests arrays and objects more than ${maxJsonDepth} levels deep (the limit), at ${tooDeep}; ${hint}`);
  }
  return parsed;
}
