// Reads what the parts left in WORK, writes OUTDIR/summary.json and OUTDIR/summary.md, and prints the
// summary: the last thing the check prints.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readJson, toJson } from './results.mjs';
import { buildSummary, parseParts, renderSummary } from './summary.mjs';

/**
 * @param {string} file
 * @returns {string | undefined}
 */
function readText(file) {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/**
 * @param {string} work @param {string} out
 * @returns {boolean} whether every check passed
 */
export function writeSummary(work, out) {
  const at = (/** @type {string} */ name) => path.join(work, name);
  const summary = buildSummary({
    dryRun: Boolean(process.env.GPU_CHECK_DRY_RUN),
    parts: parseParts(readText(at('parts.tsv')) ?? ''),
    nvidiaSmi: readText(at('nvidia_smi.csv'))?.split('\n').filter((l) => l.trim() !== ''),
    cudnnNote: readText(at('cudnn_note.txt'))?.trim() || undefined,
    torchEnv: readJson(at('torch_env.json')),
    nodeEnv: readJson(at('node_env.json')),
    ops: readJson(at('ops.json')),
    parity: readJson(at('parity.json')),
    bench: readJson(at('bench.json')),
    int8: readJson(at('int8.json')),
    serve: readJson(at('serve.json')),
    torchRef: readJson(at(path.join('torch_ref', 'manifest.json'))),
    torchBench: readJson(at('torch_bench.json')),
  });
  const text = renderSummary(summary);
  writeFileSync(path.join(out, 'summary.json'), toJson(summary));
  writeFileSync(path.join(out, 'summary.md'), text);
  process.stdout.write(`\n${text}`);
  return summary.ok;
}
