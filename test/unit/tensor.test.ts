import { describe, expect, it } from 'vitest';
import { DTypeError, InvalidArgumentError, ShapeError } from '../../lib/errors.js';
import {
  Tensor,
  bfloat16ToFloat,
  dtypeSize,
  floatToBfloat16,
  floatToHalf,
  formatShape,
  halfToFloat,
  isDType,
  numelOf,
} from '../../lib/tensor.js';
import { rng } from '../helpers/helpers.js';

/** The float32 whose bit pattern is `bits`, via a DataView (independent of the library's own scratch arrays). */
function f32FromBits(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}

/**
 * Every finite non-negative half value with its bits, built by counting rather than by formula:
 * subnormals are k·2^-24, each normal binade doubles the step. Sorted ascending.
 */
function halfTable(): { value: number; bits: number }[] {
  const out: { value: number; bits: number }[] = [];
  let step = 2 ** -24;
  let value = 0;
  for (let bits = 0; bits < 0x7c00; bits++) {
    out.push({ value, bits });
    value += step;
    // Past each binade boundary (every 1024 patterns after the first two sets), the spacing doubles.
    if (bits >= 0x07ff && (bits + 1) % 0x400 === 0) step *= 2;
  }
  // One past the largest finite half: where rounding overflows to infinity (whose mantissa is even).
  out.push({ value: 65536, bits: 0x7c00 });
  return out;
}

/** Round-to-nearest-even onto a sorted table, by exhaustive search: the reference for conversions. */
function nearestEven(table: { value: number; bits: number }[], x: number): number {
  let lo = 0;
  let hi = table.length - 1;
  if (x >= table[hi]!.value) return table[hi]!.bits;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]!.value <= x) lo = mid;
    else hi = mid;
  }
  const a = table[lo]!;
  const b = table[hi]!;
  const da = x - a.value;
  const db = b.value - x;
  if (da < db) return a.bits;
  if (db < da) return b.bits;
  return a.bits % 2 === 0 ? a.bits : b.bits;
}

describe('Tensor.from', () => {
  it('rejects a length that does not match the shape, with the exact message', () => {
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(ShapeError);
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow('Tensor.from: data has 5 elements but shape [2, 3] needs 6');
    expect(() => Tensor.from([1, 2], [])).toThrow('Tensor.from: data has 2 elements but shape [] needs 1');
    expect(() => Tensor.from([1], [0])).toThrow('Tensor.from: data has 1 elements but shape [0] needs 0');
  });

  it('rejects bad shapes, dtypes and data', () => {
    expect(() => Tensor.from([1, 2], [-2])).toThrow('Expected an array of non-negative integers for shape but received [-2]');
    expect(() => Tensor.from([1, 2], [1.5])).toThrow(InvalidArgumentError);
    expect(() => Tensor.from([1, 2], [2], 'float8' as never)).toThrow(/^Expected one of float32, float64, .* for dtype but received "float8"$/);
    expect(() => Tensor.from('ab' as never, [2])).toThrow(InvalidArgumentError);
    expect(() => Tensor.from(new DataView(new ArrayBuffer(8)) as never, [2], 'float32')).toThrow(InvalidArgumentError);
    expect(() => Tensor.from([NaN], [1], 'int64')).toThrow('Cannot convert NaN to int64: expected finite values');
    expect(() => Tensor.zeros([1], 'half' as never)).toThrow(InvalidArgumentError);
  });

  it('infers the dtype from the array type', () => {
    const cases: [unknown, string][] = [
      [[1, 2], 'float32'],
      [new Float32Array(2), 'float32'],
      [new Float64Array(2), 'float64'],
      [new Uint8Array(2), 'uint8'],
      [new Uint8ClampedArray(2), 'uint8'],
      [new Int8Array(2), 'int8'],
      [new Int16Array(2), 'int16'],
      [new Int32Array(2), 'int32'],
      [new BigInt64Array(2), 'int64'],
      [[1n, 2n], 'int64'],
    ];
    for (const [data, dtype] of cases) expect(Tensor.from(data as never, [2]).dtype).toBe(dtype);
    expect(() => Tensor.from(new Uint16Array(2), [2])).toThrow(DTypeError);
    expect(() => Tensor.from(new Uint16Array(2), [2])).toThrow(/ambiguous; pass dtype "float16" or "bfloat16"/);
    expect(() => Tensor.from(new Uint32Array(2) as never, [2])).toThrow(InvalidArgumentError);
  });

  it('does not copy a typed array of the right type, and copies anything else', () => {
    const f = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = Tensor.from(f, [2, 3]);
    expect(t.data).toBe(f);
    const bits = new Uint16Array([0x3c00]);
    expect(Tensor.from(bits, [1], 'float16').data).toBe(bits);
    expect(Tensor.from(bits, [1], 'bfloat16').data).toBe(bits);
    const bytes = new Uint8Array([1, 0]);
    expect(Tensor.from(bytes, [2], 'bool').data).toBe(bytes);
    const plain = [1, 2];
    const copy = Tensor.from(plain, [2]);
    plain[0] = 9;
    expect(Array.from(copy.data as Float32Array)).toEqual([1, 2]);
    // A view at an offset stays a view.
    const view = f.subarray(2, 4);
    expect(Tensor.from(view, [2]).data).toBe(view);
  });

  it('converts values (not bits) when the array type differs from the dtype', () => {
    expect(Array.from(Tensor.from([1, 0.5, 65504, 1e6], [4], 'float16').data)).toEqual([0x3c00, 0x3800, 0x7bff, 0x7c00]);
    expect(Array.from(Tensor.from(new Float32Array([1, -2]), [2], 'bfloat16').data)).toEqual([0x3f80, 0xc000]);
    expect(Array.from(Tensor.from([1.9, -1.9, 3], [3], 'int32').data)).toEqual([1, -1, 3]);
    expect(Array.from(Tensor.from([1.9, -1.9], [2], 'int64').data)).toEqual([1n, -1n]);
    expect(Array.from(Tensor.from([2, 0, -0.5, NaN], [4], 'bool').data)).toEqual([1, 0, 1, 1]);
    expect(Array.from(Tensor.from(new BigInt64Array([3n, -4n]), [2], 'float32').data)).toEqual([3, -4]);
    expect(Array.from(Tensor.from([2 ** 53], [1], 'int64').data)).toEqual([2n ** 53n]);
  });

  it('freezes the shape and reports numel and ndim', () => {
    const t = Tensor.zeros([2, 3, 4], 'int16');
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(t.numel).toBe(24);
    expect(t.ndim).toBe(3);
    expect(t.data).toBeInstanceOf(Int16Array);
    expect(Tensor.zeros([]).numel).toBe(1);
    expect(numelOf([2, 0, 5])).toBe(0);
    expect(formatShape([8, 3, 224, 224])).toBe('[8, 3, 224, 224]');
    expect(isDType('bfloat16')).toBe(true);
    expect(isDType('toString')).toBe(false);
    expect(dtypeSize.bfloat16).toBe(2);
    expect(dtypeSize.int64).toBe(8);
  });
});

describe('reshape', () => {
  it('shares data and checks the element count', () => {
    const t = Tensor.from(new Float32Array(6), [2, 3]);
    const r = t.reshape([3, 1, 2]);
    expect(r.shape).toEqual([3, 1, 2]);
    expect(r.data).toBe(t.data);
    expect(() => t.reshape([4])).toThrow(ShapeError);
    expect(() => t.reshape([4])).toThrow('reshape: shape [4] is invalid for input of size 6');
    expect(() => t.reshape([-1, 3])).toThrow('Expected an array of non-negative integers for shape but received [-1,3]');
  });
});

describe('float16', () => {
  it('matches known bit patterns', () => {
    const known: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
      [1 / 3, 0x3555],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of known) {
      expect(floatToHalf(value), `${value}`).toBe(bits);
      expect(Object.is(halfToFloat(bits), value === 1 / 3 ? 0.333251953125 : value), `${bits.toString(16)}`).toBe(true);
    }
  });

  it('overflows to infinity and rounds to nearest even', () => {
    expect(floatToHalf(65519)).toBe(0x7bff); // below the midpoint to 65536
    expect(floatToHalf(65520)).toBe(0x7c00); // the midpoint: even is 0x7c00 (infinity)
    expect(floatToHalf(1e10)).toBe(0x7c00);
    expect(floatToHalf(-1e10)).toBe(0xfc00);
    // Ties between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): to even, down.
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    // Ties between 0x3c01 (odd) and 0x3c02: to even, up.
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    // Subnormal ties: 2^-25 is halfway between 0 and the smallest subnormal: to even (0).
    expect(floatToHalf(2 ** -25)).toBe(0x0000);
    expect(floatToHalf(3 * 2 ** -25)).toBe(0x0002);
    expect(floatToHalf(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(floatToHalf(-(2 ** -26))).toBe(0x8000);
    // Rounding that carries into the next binade.
    expect(floatToHalf(2 - 2 ** -12)).toBe(0x4000);
    expect(floatToHalf(2 ** -14 - 2 ** -25)).toBe(0x0400);
  });

  it('keeps NaN a NaN', () => {
    const bits = floatToHalf(NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0xfc01)).toBeNaN();
  });

  it('agrees with an exhaustive nearest-even search on ties, neighbours and random floats', () => {
    const table = halfTable();
    expect(table.length).toBe(0x7c01);
    // The table and the decoder agree on every finite half.
    for (const { value, bits } of table.slice(0, -1)) {
      expect(halfToFloat(bits)).toBe(value);
      expect(halfToFloat(bits | 0x8000)).toBe(-value);
      expect(floatToHalf(value)).toBe(bits);
    }
    const xs: number[] = [];
    for (let i = 0; i + 1 < table.length; i++) {
      const mid = (table[i]!.value + table[i + 1]!.value) / 2;
      xs.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)));
    }
    const r = rng(7);
    for (let i = 0; i < 100_000; i++) {
      const x = f32FromBits(Math.floor(r() * 2 ** 31)); // non-negative float32 of any exponent
      if (Number.isFinite(x)) xs.push(x);
    }
    let mismatches = 0;
    for (const x of xs) {
      if (floatToHalf(x) !== nearestEven(table, x) || floatToHalf(-x) !== (nearestEven(table, x) | 0x8000)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

describe('bfloat16', () => {
  it('matches known bit patterns', () => {
    expect(floatToBfloat16(1)).toBe(0x3f80);
    expect(floatToBfloat16(-2)).toBe(0xc000);
    expect(floatToBfloat16(0)).toBe(0x0000);
    expect(floatToBfloat16(-0)).toBe(0x8000);
    expect(floatToBfloat16(Infinity)).toBe(0x7f80);
    expect(floatToBfloat16(-Infinity)).toBe(0xff80);
    expect(floatToBfloat16(3.4028234663852886e38)).toBe(0x7f80); // float32 max rounds up to infinity
    expect(floatToBfloat16(3.3895313892515355e38)).toBe(0x7f7f); // largest finite bfloat16
    expect(bfloat16ToFloat(0x3f80)).toBe(1);
    expect(bfloat16ToFloat(0x4049)).toBe(3.140625);
    expect(bfloat16ToFloat(0x0001)).toBe(f32FromBits(0x00010000));
  });

  it('rounds to nearest even', () => {
    expect(floatToBfloat16(f32FromBits(0x3f808000))).toBe(0x3f80); // tie, even below
    expect(floatToBfloat16(f32FromBits(0x3f818000))).toBe(0x3f82); // tie, even above
    expect(floatToBfloat16(f32FromBits(0x3f808001))).toBe(0x3f81); // above the tie
    expect(floatToBfloat16(f32FromBits(0x3f807fff))).toBe(0x3f80); // below the tie
    expect(floatToBfloat16(f32FromBits(0x807fffff))).toBe(0x8080); // subnormal carries into the smallest normal
  });

  it('keeps NaN a NaN (even when the payload is only in the low bits)', () => {
    const bits = floatToBfloat16(f32FromBits(0x7f800001));
    expect(bits & 0x7f80).toBe(0x7f80);
    expect(bits & 0x7f).not.toBe(0);
    expect(bfloat16ToFloat(floatToBfloat16(NaN))).toBeNaN();
    expect(floatToBfloat16(f32FromBits(0xffc00000))).toBe(0xffc0);
  });

  it('decodes every pattern as the top half of a float32', () => {
    for (let b = 0; b < 0x10000; b++) {
      const expected = f32FromBits(b << 16);
      if (Number.isNaN(expected)) expect(bfloat16ToFloat(b)).toBeNaN();
      else expect(Object.is(bfloat16ToFloat(b), expected)).toBe(true);
    }
  });
});

describe('dtype conversions', () => {
  it('to() and toFloat32() convert half, bfloat16 and integers', () => {
    const h = Tensor.from(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]), [4], 'float16');
    expect(Array.from(h.toFloat32().data)).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(h.to('bfloat16').data)).toEqual([0x3f80, 0xc000, floatToBfloat16(65504), floatToBfloat16(2 ** -24)]);
    const f = Tensor.from([1.5, -2.75, 1e6], [3]);
    expect(Array.from(f.to('float16').data)).toEqual([0x3e00, 0xc180, 0x7c00]);
    expect(Array.from(f.to('int64').data)).toEqual([1n, -2n, 1000000n]);
    expect(f.to('float32')).toBe(f);
    const big = Tensor.from(new Int32Array([16777217, -2147483648]), [2]);
    // Through float64, not float32: 16777217 survives.
    expect(Array.from(big.to('float64').data)).toEqual([16777217, -2147483648]);
    expect(Array.from(big.to('int64').data)).toEqual([16777217n, -2147483648n]);
    expect(Array.from(Tensor.from([3n, -1n], [2]).to('int8').data)).toEqual([3, -1]);
    expect(() => f.to('float128' as never)).toThrow(InvalidArgumentError);
  });
});

describe('argmax, softmax and topk', () => {
  const logits = Tensor.from([1, 3, 2, 3, -5, 0, 10, -1], [2, 4]);

  it('argmax picks the first maximum of each row', () => {
    expect(logits.argmax()).toEqual([1, 2]);
    expect(Tensor.from([7], [1]).argmax()).toEqual([0]);
    expect(Tensor.from([-Infinity, -Infinity], [2]).argmax()).toEqual([0]);
  });

  it('argmax: NaN wins, the first NaN, as in PyTorch', () => {
    expect(Tensor.from([1, NaN, 5, NaN], [4]).argmax()).toEqual([1]);
    expect(Tensor.from([NaN, 9], [2]).argmax()).toEqual([0]);
  });

  it('softmax matches exp(x)/sum(exp(x)) in float64 and is stable for large logits', () => {
    const s = logits.softmax();
    expect(s.shape).toEqual([2, 4]);
    const rows = [[1, 3, 2, 3], [-5, 0, 10, -1]];
    rows.forEach((row, r) => {
      const z = row.reduce((a, v) => a + Math.exp(v), 0);
      row.forEach((v, c) => expect(s.data[r * 4 + c]).toBeCloseTo(Math.exp(v) / z, 7));
    });
    const big = Tensor.from([1000, 1001], [2]).softmax();
    expect(big.data[0]).toBeCloseTo(1 / (1 + Math.E), 7);
    expect(big.data[1]).toBeCloseTo(Math.E / (1 + Math.E), 7);
    expect(Array.from(Tensor.from([1, NaN], [2]).softmax().data).every(Number.isNaN)).toBe(true);
    const h = Tensor.from(new Uint16Array([0x3c00, 0x0000]), [2], 'float16').softmax();
    expect(h.dtype).toBe('float32');
    expect(h.data[0]).toBeCloseTo(Math.E / (1 + Math.E), 7);
  });

  it('topk returns the k largest, largest first, lower index first on ties, NaN as largest', () => {
    expect(logits.topk(3)).toEqual({ values: [[3, 3, 2], [10, 0, -1]], indices: [[1, 3, 2], [2, 1, 3]] });
    const withNaN = Tensor.from([1, NaN, 5], [3]).topk(2);
    expect(withNaN.indices).toEqual([[1, 2]]);
    expect(withNaN.values[0]![0]).toBeNaN();
    expect(withNaN.values[0]![1]).toBe(5);
    expect(Tensor.from([-Infinity, Infinity, Infinity], [3]).topk(3).indices).toEqual([[1, 2, 0]]);
  });

  it('reject bad k, scalars, empty rows and bool tensors', () => {
    expect(() => logits.topk(5)).toThrow('Expected an integer from 1 to 4 for k but received 5');
    expect(() => logits.topk(0)).toThrow(InvalidArgumentError);
    expect(() => logits.topk(1.5)).toThrow(InvalidArgumentError);
    expect(() => Tensor.from([1], []).argmax()).toThrow('argmax: expected a tensor with at least 1 dimension but received a scalar');
    expect(() => Tensor.zeros([2, 0]).softmax()).toThrow('softmax: the last dimension is empty');
    expect(() => Tensor.from(new Uint8Array([1]), [1], 'bool').topk(1)).toThrow(DTypeError);
  });
});

describe('toArray', () => {
  it('nests by shape', () => {
    expect(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Tensor.from([7], []).toArray()).toBe(7);
    expect(Tensor.from([1n, 2n], [2, 1]).toArray()).toEqual([[1n], [2n]]);
  });
});
