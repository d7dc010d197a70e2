/**
 * The error family: stable codes, sharp's argument-message shape, and native errors mapped to classes
 * with the caller's stack.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendError, DisposedError, InvalidArgumentError, InvalidFileError, OutOfMemoryError, QueueFullError, ResnetError, ShapeError, fromNative,
  invalidArgument,
} from '../../lib/errors.js';

describe('errors', () => {
  it('invalidArgument follows "Expected {what} for {name} but received {value}"', () => {
    expect(invalidArgument('a positive integer', 'batch', -3).message).toBe('Expected a positive integer for batch but received -3');
    expect(invalidArgument('a number', 'eps', NaN).message).toBe('Expected a number for eps but received NaN');
    expect(invalidArgument('a number', 'eps', Infinity).message).toBe('Expected a number for eps but received Infinity');
    expect(invalidArgument('a string', 'name', 'x').message).toBe('Expected a string for name but received "x"');
    expect(invalidArgument('a number', 'n', 5n).message).toBe('Expected a number for n but received 5n');
    expect(invalidArgument('short', 'v', 'y'.repeat(200)).message.length).toBeLessThan(140);
    expect(invalidArgument('x', 'y', 1).code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('fromNative maps codes to classes and keeps the call site', () => {
    const callSite = new Error('marker');
    const native = Object.assign(new Error('out of memory: needed 12 GiB'), { code: 'ERR_OUT_OF_MEMORY' });
    const typed = fromNative(native, callSite);
    expect(typed).toBeInstanceOf(OutOfMemoryError);
    expect(typed).toBeInstanceOf(ResnetError);
    expect(typed.code).toBe('ERR_OUT_OF_MEMORY');
    expect(typed.message).toBe('out of memory: needed 12 GiB');
    expect(typed.stack).toContain('errors.test.ts');
    expect(fromNative(Object.assign(new Error('x'), { code: 'ERR_DISPOSED' }))).toBeInstanceOf(DisposedError);
    expect(fromNative(Object.assign(new Error('x'), { code: 'ERR_INVALID_SHAPE' }))).toBeInstanceOf(ShapeError);
    expect(fromNative(Object.assign(new Error('x'), { code: 'ERR_QUEUE_FULL' }))).toBeInstanceOf(QueueFullError);
    expect(new QueueFullError('full').code).toBe('ERR_QUEUE_FULL');
    // A batch's refused image is named by its index; a single file's error has none.
    expect(new InvalidFileError('bad', { element: 3 }).element).toBe(3);
    expect(new InvalidFileError('bad').element).toBeUndefined();
    // Unknown codes and non-errors become backend errors rather than escaping untyped.
    expect(fromNative(Object.assign(new Error('odd'), { code: 'EWHATEVER' }))).toBeInstanceOf(BackendError);
    expect(fromNative('plain string').message).toBe('plain string');
    const already = new InvalidArgumentError('kept');
    expect(fromNative(already)).toBe(already);
  });
});
