// How a part of the GPU check keeps its results: one JSON file per part, rewritten whole (write + rename)
// after every record, so a part killed by its time limit still leaves everything it finished. Also the
// part's clock: a deadline that loops consult before starting work they could not finish.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * JSON.stringify with NaN and ±Infinity kept as strings ("NaN") rather than turned into null, so an
 * error that was NaN reads as NaN in summary.json.
 * @param {unknown} value
 * @returns {string}
 */
export function toJson(value) {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}

/**
 * Reads a JSON file; undefined when it does not exist or does not parse (a part killed mid-write cannot
 * leave a half file, since files are renamed into place, but a part that never ran leaves none).
 * @param {string} file
 * @returns {any}
 */
export function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A number read back from JSON, where non-finite values were written as strings ("NaN").
 * @param {unknown} value
 * @returns {number | undefined}
 */
export function numberFromJson(value) {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return undefined;
}

/** A part's result file: `data` is the JSON object; {@link ResultFile.save} writes it atomically. */
export class ResultFile {
  /**
   * @param {string} file
   * @param {Record<string, unknown>} initial
   */
  constructor(file, initial) {
    this.file = file;
    /** @type {Record<string, any>} */
    this.data = { ...initial, startedAt: new Date().toISOString() };
    this.save();
  }

  save() {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, toJson({ ...this.data, savedAt: new Date().toISOString() }));
    renameSync(tmp, this.file);
  }

  /**
   * Appends `record` to the array `key` and saves.
   * @param {string} key
   * @param {unknown} record
   */
  push(key, record) {
    (this.data[key] ??= []).push(record);
    this.save();
  }
}

/** Seconds left before a part must have finished; loops ask it before starting work. */
export class Deadline {
  /** @param {number} seconds */
  constructor(seconds) {
    this.end = performance.now() + seconds * 1000;
  }

  /** @returns {number} seconds left (negative once past) */
  left() {
    return (this.end - performance.now()) / 1000;
  }

  /**
   * True when at least `seconds` are left.
   * @param {number} seconds
   */
  allows(seconds) {
    return this.left() >= seconds;
  }
}

/**
 * The message of an error, with its code when it has one: `ERR_NO_GPU: no CUDA device …`.
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (error instanceof Error) {
    const code = /** @type {{ code?: unknown }} */ (error).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : `${error.name}: ${error.message}`;
  }
  return String(error);
}
