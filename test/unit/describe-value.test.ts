/**
 * Values shown in error messages stay bounded whatever they are (200,000 levels deep, 30 MB long, a
 * million elements wide), numbers JSON cannot write read as JavaScript writes them, and the nesting
 * limit of parsed JSON (64 levels) is found without recursion, by both readers of JSON.
 */
import { describe, expect, it } from 'vitest';
import { describeValue, shownText } from '../../lib/describe-value.js';
import { InvalidArgumentError, InvalidFileError, invalidArgument } from '../../lib/errors.js';
import { jsonNestingBeyond, maxJsonDepth, parseStrictJson } from '../../lib/io/strict-json.js';

const deepArrays = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const deepObjects = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

describe('describeValue', () => {
  it('shows JSON values as JSON and other numbers as JavaScript writes them', () => {
    expect(describeValue({ a: [1, 'b', null, true] })).toBe('{"a":[1,"b",null,true]}');
    expect(describeValue(Infinity)).toBe('Infinity');
    expect(describeValue(-Infinity)).toBe('-Infinity');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(12n)).toBe('12n');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue('a"b')).toBe('"a\\"b"');
  });

  it('abbreviates containers below three levels', () => {
    expect(describeValue(JSON.parse(deepArrays(200_000)))).toBe('[[[[…]]]]');
    expect(describeValue(JSON.parse(deepObjects(200_000)))).toBe('{"a":{"a":{"a":{…}}}}');
  });

  it('cuts a long string before quoting it, and wide containers at the budget', () => {
    const long = 'é'.repeat(30 * 1024 * 1024);
    expect(describeValue(long, 10)).toBe(`"${'é'.repeat(8)}…`);
    expect(describeValue(Array.from({ length: 1_000_000 }, (_, i) => i), 12)).toBe('[0,1,2,3,4,…');
    expect(describeValue([long, long], 20)).toHaveLength(20);
  });

  it('names typed arrays and class instances by type', () => {
    expect(describeValue(new Float32Array(1000))).toBe('a Float32Array of 4000 bytes');
    expect(describeValue(new Map())).toBe('a Map');
  });

  it('shownText keeps short names and cuts long ones', () => {
    expect(shownText('input')).toBe('input');
    expect(shownText('x'.repeat(100), 8)).toBe('xxxxxxx…');
  });
});

describe('invalidArgument', () => {
  it('shows a 200,000-level value and a 30 MB string bounded', () => {
    const deep = invalidArgument('a number', 'scale', JSON.parse(deepArrays(200_000)));
    expect(deep).toBeInstanceOf(InvalidArgumentError);
    expect(deep.message).toBe('Expected a number for scale but received [[[[…]]]]');
    const long = invalidArgument('a number', 'scale', 'y'.repeat(30 * 1024 * 1024));
    expect(long.message).toBe(`Expected a number for scale but received "${'y'.repeat(78)}…`);
    expect(invalidArgument('a finite number', 'x', Infinity).message).toBe('Expected a finite number for x but received Infinity');
  });
});

describe('jsonNestingBeyond', () => {
  it('accepts 64 levels and names the path of the 65th', () => {
    expect(maxJsonDepth).toBe(64);
    expect(jsonNestingBeyond(JSON.parse(deepArrays(64)))).toBeNull();
    expect(jsonNestingBeyond(JSON.parse(deepArrays(65)))).toBe('[0]'.repeat(64).slice(0, 119) + '…');
    expect(jsonNestingBeyond({ a: [{ b: [] }] }, 3)).toBe('a[0].b');
    expect(jsonNestingBeyond({ a: [{ b: [] }] }, 4)).toBeNull();
    expect(jsonNestingBeyond(5)).toBeNull();
    // Containers after leading numbers (the fast skip over number arrays) are still walked.
    expect(jsonNestingBeyond([1, 2.5, [[]]], 2)).toBe('[2][0]');
    expect(jsonNestingBeyond({ data: [0.5, 1, { a: [] }] }, 3)).toBe('data[2].a');
  });

  it('walks 200,000 levels without overflowing the stack, and wide values without a limit', () => {
    expect(jsonNestingBeyond(JSON.parse(deepObjects(200_000)))).toMatch(/^a\.a\.a/);
    expect(jsonNestingBeyond(Array.from({ length: 100_000 }, () => [[1]]))).toBeNull();
  });
});

describe('parseStrictJson', () => {
  it('accepts 64 levels and refuses 65 or 200,000 with the limit', () => {
    expect(parseStrictJson(deepArrays(64), 'header')).toBeInstanceOf(Array);
    expect(() => parseStrictJson(deepArrays(65), 'header')).toThrow(new InvalidFileError('header is not valid JSON: nesting deeper than 64 levels at position 64'));
    expect(() => parseStrictJson(deepObjects(200_000), 'header')).toThrow(/nesting deeper than 64 levels/);
  });
});
