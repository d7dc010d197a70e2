#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench:json`: how long the server's JSON parse of one request body holds a thread's event loop
 * (`JSON.parse` and the nesting check, lib/server/request-json.ts), per body structure, at the size of
 * `maxJsonBodyBytes` (default: the server's default). The costliest structures are the ones the default is
 * chosen by: the parse costs per value, not per byte, so many small containers cost most. Prints, per
 * structure, the median and the slowest of `--runs` parses and the rate in MB/s. `npm run build:ts` first.
 *
 *   npm run bench:json -- [--bytes N] [--runs 9]
 */
import { parseArgs } from 'node:util';
import { parseRequestJson } from '../dist/server/request-json.js';
import { serverDefaults } from '../dist/server/types.js';

const { values } = parseArgs({ options: { bytes: { type: 'string' }, runs: { type: 'string', default: '9' } } });
const bytes = values.bytes === undefined ? serverDefaults.maxJsonBodyBytes : Number(values.bytes);
const runs = Number(values.runs);
if (!Number.isInteger(bytes) || bytes < 16 || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run bench:json -- [--bytes N (at least 16)] [--runs N]');
  process.exit(2);
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
  'FP32 data (float32 as doubles)': fp32Data(bytes),
  'base64 strings (BYTES images)': filled(`"${'QUJD'.repeat(2000)}"`, bytes),
  'zeros [0,0,…]': filled('0', bytes),
  'empty arrays [[],[],…]': filled('[]', bytes),
  'empty objects [{},{},…]': filled('{}', bytes),
  'nested 8 deep [[[[[[[[0]]]]]]]]': filled('[[[[[[[[0]]]]]]]]', bytes),
  'distinct keys {"0":0,"1":0,…}': distinctKeys(bytes),
};

const rows = [];
for (const [name, text] of Object.entries(structures)) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    parseRequestJson(text, 'a benchmark body', '');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(runs / 2)];
  rows.push([name, (text.length / 1024).toFixed(0), median.toFixed(1), times[runs - 1].toFixed(1), (text.length / 1e6 / (median / 1000)).toFixed(0)]);
}

const header = ['structure', 'KiB', 'median ms', 'slowest ms', 'MB/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
console.log(`JSON parse and nesting check of one body of ${bytes} bytes, ${runs} runs each (node ${process.version})`);
console.log(line(header));
for (const row of rows) console.log(line(row));
