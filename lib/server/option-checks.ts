/**
 * Small validators for option objects, each reporting in the project's wording ("Expected {what} for
 * {name} but received {value}"). A {@link Check} carries its `what` so a caller can reuse the same
 * rule under another name (a config-file path like `models[0].port`, or a flag like `--port`).
 * @module
 * @internal
 */
import { InvalidArgumentError, invalidArgument } from '../errors.js';

/** Validates one value; `name` says where it came from in the error message. */
export interface Check<T> {
  (value: unknown, name: string): T;
  /** What the check accepts, as the message's "Expected …" part. */
  readonly what: string;
}

/** A {@link Check} from its description and its test. */
export function check<T>(what: string, test: (value: unknown) => value is T): Check<T> {
  return Object.assign(
    (value: unknown, name: string): T => {
      if (!test(value)) throw invalidArgument(what, name, value);
      return value;
    },
    { what },
  );
}

/** An integer (a JS number with no fraction) from `min` to `max` inclusive. */
export function integerIn(min: number, max: number, what = `an integer from ${min} to ${max}`): Check<number> {
  return check(what, (v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max);
}

/** A string the pattern matches in full, no longer than `maxLength`. */
export function stringMatching(pattern: RegExp, maxLength: number, what: string): Check<string> {
  return check(what, (v): v is string => typeof v === 'string' && v.length <= maxLength && pattern.test(v));
}

/**
 * A secret matching `pattern`: refused without echoing it (a token read from a Kubernetes Secret with a
 * trailing newline must not end up in the logs), naming only its type and length.
 */
export function secretMatching(pattern: RegExp, maxLength: number, what: string): Check<string> {
  return Object.assign(
    (value: unknown, name: string): string => {
      if (typeof value === 'string' && value.length <= maxLength && pattern.test(value)) return value;
      const shown = typeof value === 'string' ? `a string of ${value.length} characters (not shown)` : `a ${value === null ? 'null' : typeof value}`;
      throw new InvalidArgumentError(`Expected ${what} for ${name} but received ${shown}`);
    },
    { what },
  );
}

/** One of the listed strings. */
export function oneOf<T extends string>(choices: readonly T[]): Check<T> {
  const shown = choices.map((c) => `'${c}'`);
  return check(`${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`, (v): v is T => typeof v === 'string' && (choices as readonly string[]).includes(v));
}

/** `true` or `false`. */
export const booleanCheck: Check<boolean> = check('a boolean', (v): v is boolean => typeof v === 'boolean');

/**
 * Checks that `value` is a plain object (a JSON object: not an array, not a class instance) whose own
 * keys are all in `known`, and returns it as a record.
 * @param name - where the object came from (`server options`, `models[1]`).
 */
export function plainObject(value: unknown, name: string, known: readonly string[]): Record<string, unknown> {
  const proto = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) throw invalidArgument('an object', name, value);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) throw invalidArgument(`one of ${known.join(', ')}`, `an option of ${name}`, key);
  }
  return record;
}
