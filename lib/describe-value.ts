/**
 * A caller's value shown in an error message, bounded whatever the value: strings are cut before they
 * are quoted, containers are shown a few levels deep and only as far as the budget reaches, typed arrays
 * and class instances by their type and length. `JSON.stringify` is not used on the value: it recurses
 * (a 200,000-level array overflows the stack), serialises a 30 MB string whole before anything can cut it,
 * and writes `Infinity` and `NaN` as `null`.
 * @module
 * @internal
 */

/** Levels of nested containers shown before they are abbreviated as `[…]` or `{…}`. */
const shownDepth = 3;

/**
 * `value` as at most `max` characters (a cut ends in `…`): JSON-like for JSON values, `Infinity`, `NaN`,
 * `12n` and `undefined` as JavaScript writes them. The work done is bounded by `max`, not by the value.
 * @internal
 */
export function describeValue(value: unknown, max = 40): string {
  return truncate(shown(value, max, shownDepth), max);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** A string quoted as JSON, cut to `max` characters first (so a huge string is never copied whole). */
function quoted(text: string, max: number): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}…`;
}

function shown(value: unknown, max: number, depth: number): string {
  switch (typeof value) {
    case 'string': return quoted(value, max);
    case 'number': return String(value);
    case 'bigint': return `${value}n`;
    case 'boolean': return String(value);
    case 'undefined': return 'undefined';
    case 'symbol': return truncate(value.toString(), max);
    case 'function': return 'a function';
  }
  if (value === null) return 'null';
  const object = value as object;
  const isArray = Array.isArray(object);
  const prototype: unknown = Object.getPrototypeOf(object);
  if (!isArray && prototype !== Object.prototype && prototype !== null) return instance(object);
  if (depth === 0) return isArray ? '[…]' : '{…}';
  // Parts are added only while the text is within `max`; the caller cuts the overflow.
  let text = isArray ? '[' : '{';
  let first = true;
  const add = (part: string): boolean => {
    text += first ? part : `,${part}`;
    first = false;
    return text.length <= max;
  };
  if (isArray) {
    const items = object as unknown[];
    for (let i = 0; i < items.length; i++) if (!add(shown(items[i], max, depth - 1))) return text;
  } else {
    const record = object as Record<string, unknown>;
    for (const key in record) {
      if (!Object.hasOwn(record, key)) continue;
      if (!add(`${quoted(key, max)}:${shown(record[key], max, depth - 1)}`)) return text;
    }
  }
  return text + (isArray ? ']' : '}');
}

/** A class instance by its type: `a Float32Array of 1000 elements`, `a Map`. */
function instance(object: object): string {
  const type = (object.constructor as { name?: unknown } | undefined)?.name;
  const name = typeof type === 'string' && type !== '' ? type.slice(0, 40) : 'object';
  if (ArrayBuffer.isView(object)) return `a ${name} of ${object.byteLength} bytes`;
  return `a ${name}`;
}

/**
 * A caller's string (a tensor or region name) as it goes between quotes in a message: whole when it has
 * at most `max` characters, else cut there with `…`.
 * @internal
 */
export function shownText(text: string, max = 64): string {
  return truncate(text, max);
}
