#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:json`: how long the server's JSON parse of one request body holds a thread's event loop
 * (the value count, `JSON.parse` and the nesting check, lib/server/request-json.ts), per body structure, each
 * as large as the limits allow: `maxJsonBodyBytes` and `maxJsonValues` (default: the server's defaults). The
 * costliest structures are the ones the defaults are chosen by: the parse costs per value, not per byte, so many
 * small containers and keys cost most. Prints, per structure, its size and value count, the median and the
 * slowest of `--runs` parses and the rate in MB/s. `npm run build:ts` first.
 *
 *   npm run bench:json -- [--bytes N] [--values N] [--runs 9]
 */
import { parseArgs } from 'node:util';
import { checkJsonValueCount, jsonValueCount, parseRequestJson } from '../dist/server/request-json.js';
import { serverDefaults } from '../dist/server/types.js';

const { values } = parseArgs({ options: { bytes: { type: 'string' }, values: { type: 'string' }, runs: { type: 'string', default: '9' } } });
const bytes = values.bytes === undefined ? serverDefaults.maxJsonBodyBytes : Number(values.bytes);
const maxValues = values.values === undefined ? serverDefaults.maxJsonValues : Number(values.values);
const runs = Number(values.runs);
if (!Number.isInteger(bytes) || bytes < 16 || !Number.isInteger(maxValues) || maxValues < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run bench:json -- [--bytes N (at least 16)] [--values N] [--runs N]');
  process.exit(2);
}

/** `make(size)` at the largest size up to `bytes` whose value count is within `maxValues`. */
function withinLimits(make) {
  let size = bytes;
  let text = make(size);
  for (let count = jsonValueCount(Buffer.from(text)); count > maxValues; count = jsonValueCount(Buffer.from(text))) {
    size = Math.floor(size * Math.min(0.98, maxValues / count));
    text = make(size);
  }
  return text;
}

/** A JSON array of `item` repeated to fill about `size` bytes. */
function filled(item, size) {
  const count = Math.max(1, Math.floor((size - 2) / (item.length + 1)));
  return `[${new Array(count).fill(item).join(',')}]`;
}

/** An object of `size` bytes of distinct keys. */
function distinctKeys(size) {
  const fields = [];
  for (let i = 0, length = 2; length < size; i++) {
    const field = `"${i.toString(36)}":0`;
    fields.push(field);
    length += field.length + 1;
  }
  return `{${fields.join(',')}}`;
}

/** FP32 `data` as clients send it: float32 values written as doubles. */
function fp32Data(size) {
  const out = [];
  for (let length = 2; length < size;) {
    const value = String(Math.fround(Math.random() * 4 - 2));
    out.push(value);
    length += value.length + 1;
  }
  return `[${out.join(',')}]`;
}

const structures = {
  'FP32 data (float32 as doubles)': withinLimits(fp32Data),
  'base64 strings (BYTES images)': withinLimits((size) => filled(`"${'QUJD'.repeat(2000)}"`, size)),
  'zeros [0,0,…]': withinLimits((size) => filled('0', size)),
  'exponents [1e-300,…]': withinLimits((size) => filled('1e-300', size)),
  'short strings ["a",…]': withinLimits((size) => filled('"a"', size)),
  'empty arrays [[],[],…]': withinLimits((size) => filled('[]', size)),
  'empty objects [{},{},…]': withinLimits((size) => filled('{}', size)),
  'nested 8 deep [[[[[[[[0]]]]]]]]': withinLimits((size) => filled('[[[[[[[[0]]]]]]]]', size)),
  'distinct keys {"0":0,"1":0,…}': withinLimits(distinctKeys),
};

const rows = [];
for (const [name, text] of Object.entries(structures)) {
  const times = [];
  // The server reads bodies as bytes and counts before it decodes and parses them.
  const body = Buffer.from(text);
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    checkJsonValueCount(body, 'a benchmark body', maxValues);
    parseRequestJson(body.toString('utf8'), 'a benchmark body', '');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(runs / 2)];
  rows.push([name, (text.length / 1024).toFixed(0), String(jsonValueCount(body)), median.toFixed(1), times[runs - 1].toFixed(1), (text.length / 1e6 / (median / 1000)).toFixed(0)]);
}

const header = ['structure', 'KiB', 'values', 'median ms', 'slowest ms', 'MB/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
console.log(`JSON count, parse and nesting check of one body within ${bytes} bytes and ${maxValues} values, ${runs} runs each (node ${process.version})`);
console.log(line(header));
for (const row of rows) console.log(line(row));
