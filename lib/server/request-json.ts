/**
 * A request's JSON, parsed and held to the protocol's nesting bound: one place for the two bodies that carry
 * JSON (the inference header and the shared-memory register body), so both refuse in the same words.
 * @module
 */
import { jsonNestingBeyond, maxJsonDepth } from '../io/strict-json.js';
import { badRequest } from './http-error.js';

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
