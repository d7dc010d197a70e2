/**
 * Argument checking shared by the layers and the model factories: option bags that reject unknown
 * names (a misspelt `numclasses` must not be ignored silently), integers, pairs and booleans, all
 * reported with `invalidArgument`'s one message shape.
 * @internal
 * @module
 */
import { InvalidArgumentError, invalidArgument } from '../errors.js';

/** A `[height, width]` pair. */
export type Pair = [number, number];

function normalise(name: string): string {
  return name.toLowerCase().replace(/_/g, '');
}

/**
 * Returns `options` (or `{}` when undefined) after checking that it is a plain object whose keys are
 * all in `allowed`. Unknown keys throw, naming the likely intended spelling (`num_classes` → `numClasses`).
 * @internal
 */
export function checkOptions<T extends object>(options: T | undefined, allowed: readonly string[], where: string): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument('an options object', `${where} options`, options);
  }
  const unknown = Object.keys(options).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    const described = unknown.map((key) => {
      const guess = allowed.find((name) => normalise(name) === normalise(key));
      return guess ? `"${key}" (did you mean "${guess}"?)` : `"${key}"`;
    });
    throw new InvalidArgumentError(
      `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${described.join(', ')}; the options are ${allowed.join(', ')}`,
    );
  }
  return options;
}

/** An integer of at least `min` (1 unless told). @internal */
export function checkInt(value: unknown, name: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`, name, value);
  }
  return value;
}

/** An integer, or a pair of integers, of at least `min` each, as a pair. @internal */
export function checkPair(value: unknown, name: string, min = 1): Pair {
  if (typeof value === 'number') {
    const v = checkInt(value, name, min);
    return [v, v];
  }
  const what = `${min === 0 ? 'a non-negative' : 'a positive'} integer or a pair of them`;
  if (!Array.isArray(value) || value.length !== 2) throw invalidArgument(what, name, value);
  const [a, b] = value as unknown[];
  if (![a, b].every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) {
    throw invalidArgument(what, name, value);
  }
  return [a as number, b as number];
}

/** A boolean. @internal */
export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgument('a boolean', name, value);
  return value;
}

/** A finite number of at least `min`. @internal */
export function checkNumber(value: unknown, name: string, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw invalidArgument(min === -Infinity ? 'a finite number' : `a finite number >= ${min}`, name, value);
  }
  return value;
}
