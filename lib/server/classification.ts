/**
 * The classification extension (protocol §10): the top N of an output per sample as BYTES strings
 * `"<score>:<index>[:<label>]"`, highest first, and the float32 formatting that keeps every score exact.
 * @module
 */
import { tensorNames, type OutputSignature } from './types.js';

/**
 * Whether classification makes sense on this output: it has one dimension, and that dimension indexes
 * classes. That is `output` (the logits) whether or not the weights name their classes; `features` is
 * an embedding, whose top entries mean nothing.
 */
export function hasClassDimension(output: OutputSignature): boolean {
  return output.sampleShape.length === 1 && (output.name === tensorNames.output || output.labels !== null);
}

const float32Bits = new Float32Array(1);
const float32Word = new Uint32Array(float32Bits.buffer);
const smallestNormalFloat32 = 2 ** -126;

/** `sign · digits · 10^scale`, `digits` a positive integer (at most ten digits here, exact in a double). */
interface Decimal {
  negative: boolean;
  digits: number;
  scale: number;
}

/**
 * The shortest decimal string that reads back (through `Math.fround`) as the same float32; among equally
 * short ones the nearest, and of two equally near the one with an even last digit (the rule of
 * `Number.prototype.toString` and of Dragon4/Ryu). Written as `Number#toString` writes the decimal;
 * negative zero as `-0`.
 */
export function formatFloat32(value: number): string {
  const x = Math.fround(value);
  return Object.is(x, -0) ? '-0' : String(shortestFloat32(x));
}

/**
 * The double nearest to {@link formatFloat32}'s decimal (so `JSON.stringify` writes that decimal).
 *
 * Whether some decimal of p significant digits reads back grows with p (p-digit decimals are also
 * (p+1)-digit ones), so the length is found by bisection. For normal values six digits never miss a
 * shorter answer (float32's half-ulp is under 6e-8 relative, below half a unit of the sixth digit, so
 * the nearest six-digit decimal *is* any shorter one, padded) and nine always suffice: 8, then 7 and 6
 * or 9. Subnormals have coarser spacing and are searched from one digit.
 */
export function shortestFloat32(value: number): number {
  const x = Math.fround(value);
  if (!Number.isFinite(x) || x === 0) return x;
  float32Bits[0] = x;
  const powerOfTwo = (float32Word[0]! & 0x7fffff) === 0;
  if (Math.abs(x) < smallestNormalFloat32) {
    for (let length = 1; length < 9; length++) {
      const found = fitting(x, length, powerOfTwo);
      if (found !== null) return found;
    }
    return x;
  }
  const eight = fitting(x, 8, powerOfTwo);
  if (eight === null) return fitting(x, 9, powerOfTwo) ?? x;
  const seven = fitting(x, 7, powerOfTwo);
  if (seven === null) return eight;
  return fitting(x, 6, powerOfTwo) ?? seven;
}

/**
 * The nearest decimal of `length` significant digits that reads back as `x`, or null. Where `x` is a
 * power of two its round-trip interval is lopsided (the gap below is half the gap above), so the nearest
 * decimal may miss while a neighbour fits: those are tried too.
 */
function fitting(x: number, length: number, powerOfTwo: boolean): number | null {
  const text = x.toPrecision(length);
  const value = Number(text);
  if (Math.fround(value) === x) return evenOnTie(x, length, text, value);
  if (!powerOfTwo) return null;
  const nearest = parseDecimal(text);
  const neighbour = [step(nearest, 1), step(nearest, -1)].find((candidate) => readsBack(candidate, x));
  return neighbour === undefined ? null : decimalValue(neighbour);
}

/**
 * toPrecision breaks a tie upwards in magnitude; the convention is the even neighbour. A tie needs an odd
 * last digit and `x` ending in 5 one digit further, which filters out all but a few before the exact test.
 */
function evenOnTie(x: number, length: number, text: string, value: number): number {
  if (lastDigit(text) % 2 === 0 || lastDigit(x.toPrecision(length + 1)) !== 5) return value;
  const below = step(parseDecimal(text), -1);
  return readsBack(below, x) && isMidpoint(x, below) ? decimalValue(below) : value;
}

function lastDigit(text: string): number {
  const end = text.indexOf('e');
  return text.charCodeAt((end < 0 ? text.length : end) - 1) - 48;
}

/** A `toPrecision` string (`-2.5e+6`, `0.00024414063`, `100.000`) as digits and scale. */
function parseDecimal(text: string): Decimal {
  const [mantissa, exponent = '0'] = text.split('e') as [string, string?];
  const magnitude = mantissa.replace('-', '');
  const dot = magnitude.indexOf('.');
  const fractionDigits = dot < 0 ? 0 : magnitude.length - dot - 1;
  return { negative: mantissa.startsWith('-'), digits: Number(magnitude.replace('.', '')), scale: Number(exponent) - fractionDigits };
}

function step(decimal: Decimal, units: number): Decimal {
  return { ...decimal, digits: decimal.digits + units };
}

function decimalValue(decimal: Decimal): number {
  return Number(`${decimal.negative ? '-' : ''}${decimal.digits}e${decimal.scale}`);
}

function readsBack(decimal: Decimal, x: number): boolean {
  return decimal.digits > 0 && Math.fround(decimalValue(decimal)) === x;
}

/** Whether |x| lies exactly halfway between `below` and the decimal one unit above it (exact, in BigInt). */
function isMidpoint(x: number, below: Decimal): boolean {
  // |x| = m · 2^e exactly (float32 fields); it is the midpoint when 2·|x| = (2·digits + 1) · 10^scale.
  float32Bits[0] = Math.abs(x);
  const word = float32Word[0]!;
  const field = word >>> 23;
  let m = BigInt(field === 0 ? word & 0x7fffff : (word & 0x7fffff) | 0x800000);
  const e = (field === 0 ? -149 : field - 150) + 1;
  let mid = BigInt(2 * below.digits + 1);
  const k = below.scale;
  if (e > 0) m <<= BigInt(e); else mid <<= BigInt(-e);
  if (k > 0) mid *= 10n ** BigInt(k); else m *= 10n ** BigInt(-k);
  return m === mid;
}

/**
 * Top `topN` entries of each of `batchSize` rows of `classes` values, as `"score:index[:label]"`, row
 * after row (shape `[batchSize, topN]`). Highest value first; equal values by lower index; NaN last.
 * The label is left out where `labels` is null or has no entry for the index.
 */
export function classify(values: Float32Array, batchSize: number, classes: number, topN: number, labels: readonly string[] | null): string[] {
  if (values.length !== batchSize * classes) throw new Error(`classify: ${values.length} values are not ${batchSize} rows of ${classes}`);
  if (!Number.isInteger(topN) || topN < 1 || topN > classes) throw new Error(`classify: top ${topN} of ${classes} classes`);
  const out: string[] = [];
  const order = new Array<number>(classes);
  for (let row = 0; row < batchSize; row++) {
    const scores = values.subarray(row * classes, (row + 1) * classes);
    for (let i = 0; i < classes; i++) order[i] = i;
    order.sort((a, b) => compareDescending(scores[a]!, scores[b]!) || a - b);
    for (let k = 0; k < topN; k++) {
      const index = order[k]!;
      const label = labels?.[index];
      out.push(label === undefined ? `${formatFloat32(scores[index]!)}:${index}` : `${formatFloat32(scores[index]!)}:${index}:${label}`);
    }
  }
  return out;
}

function compareDescending(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return b - a;
}
