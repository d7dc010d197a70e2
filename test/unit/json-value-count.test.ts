// The JSON value count that bounds a request's parse before it runs (lib/server/request-json.ts): each separator
// outside strings weighs what parsing what follows it costs (a value 1, an array or object 8, a key 64), and
// strings, escaped quotes included, are skipped whole.
import { describe, expect, it } from 'vitest';
import { checkJsonValueCount, jsonValueCount, jsonValueWeights } from '../../lib/server/request-json.js';

const count = (text: string) => jsonValueCount(Buffer.from(text));

describe('jsonValueCount', () => {
  it('weighs commas 1, brackets and braces 8, colons 64', () => {
    expect(jsonValueWeights).toEqual({ value: 1, container: 8, key: 64 });
    expect(count('0')).toBe(0);
    expect(count('[0,1,2]')).toBe(8 + 2);
    expect(count('{"a":1,"b":[1,2]}')).toBe(8 + 2 * 64 + 1 + 8 + 1);
    expect(count('[[[]]]')).toBe(24);
    expect(count('  \n\t')).toBe(0);
  });

  it('skips strings whole, with escaped quotes and backslashes', () => {
    expect(count('["a,b:[{",1]')).toBe(8 + 1);
    expect(count('["a\\",[{:",1]')).toBe(8 + 1); // \" does not end the string
    expect(count('["a\\\\",[1]]')).toBe(8 + 1 + 8); // \\ ends in a backslash: the quote after it ends the string
    expect(count('["\\\\\\",",2]')).toBe(8 + 1); // \\ \" , : still inside
  });

  it('an unterminated string counts nothing after its quote (the parse then refuses it)', () => {
    expect(count('[1,"abc,[{:')).toBe(8 + 1);
  });

  it('counts the bytes of a view, not of the buffer under it', () => {
    const whole = Buffer.from('[1,2,3]{"a":1}');
    expect(jsonValueCount(whole.subarray(0, 7))).toBe(8 + 2);
  });
});

describe('checkJsonValueCount', () => {
  it('passes at the limit and refuses one past it with a 413 that names both', () => {
    const text = Buffer.from('[0,0,0]');
    expect(() => checkJsonValueCount(text, 'the body', 10)).not.toThrow();
    expect(() => checkJsonValueCount(text, 'the body', 9)).toThrow(expect.objectContaining({
      status: 413,
      message: expect.stringMatching(/^the body counts 10 JSON values .*more than the limit of 9 \(maxJsonValues, --max-json-values\)/),
    }));
  });
});
