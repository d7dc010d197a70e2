// The GPU check's verdict: every part's results gathered into one summary object (summary.json) and
// rendered as text (summary.md, printed last). Pure: the parts' JSON comes in, the summary goes out.
import { evaluateTargets, RESNET50_FLOP_PER_IMAGE } from './targets.mjs';
import { evaluateInt8Targets, int8RowsOf } from './int8-summary.mjs';
import { renderServe, serveChecks, serveOf } from './serve-summary.mjs';
import { hostPathOf, renderHostPath } from './host-path-summary.mjs';
import { MISSING, formatError, formatMs, formatPercent, formatRate, formatRatio, formatTable, oneLine } from './table.mjs';
import { imagesPerSecond } from './stats.mjs';
import { numberFromJson as num } from './results.mjs';
import { stemLine } from './paths.mjs';

/**
 * @typedef {object} PartStatus  one line of gpu-check.sh's parts.tsv
 * @property {string} name
 * @property {'ok' | 'failed' | 'timeout' | 'skipped'} status
 * @property {number | null} rc
 * @property {number | null} seconds
 * @property {string} note
 */

/**
 * @typedef {object} SummaryInputs  what the parts left in WORK (undefined where a part left nothing)
 * @property {boolean} dryRun
 * @property {PartStatus[]} parts
 * @property {string[]} [nvidiaSmi]  nvidia-smi's CSV lines: name, driver, memory, bus id
 * @property {string} [cudnnNote]    what gpu-check.sh did about RESNET_CUDNN_PATH
 * @property {any} [torchEnv]
 * @property {any} [nodeEnv]
 * @property {any} [ops]
 * @property {any} [parity]
 * @property {any} [bench]
 * @property {any} [int8]
 * @property {any} [serve]
 * @property {any} [torchRef]
 * @property {any} [torchBench]
 */

const DTYPE_ORDER = ['float16', 'bfloat16', 'tf32', 'float32'];

/**
 * Parses gpu-check.sh's parts.tsv (name, status, rc, seconds, note; tab-separated).
 * @param {string} text
 * @returns {PartStatus[]}
 */
export function parseParts(text) {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [name = '', status = 'failed', rc = '', seconds = '', ...note] = line.split('\t');
      const number = (/** @type {string} */ s) => (s === '' || Number.isNaN(Number(s)) ? null : Number(s));
      return { name, status: /** @type {PartStatus['status']} */ (status), rc: number(rc), seconds: number(seconds), note: note.join('\t') };
    });
}

/**
 * The environment block: the GPU, the driver, CUDA and cuDNN as our addon found them, PyTorch's view.
 * @param {SummaryInputs} inputs
 */
function environmentOf(inputs) {
  const probes = inputs.nodeEnv?.probes ?? [];
  const last = probes[probes.length - 1];
  const cuda = last?.info?.backends?.cuda;
  const smi = (inputs.nvidiaSmi ?? []).map((line) => line.split(',').map((s) => s.trim()));
  const torch = inputs.torchEnv;
  return {
    gpu: cuda?.available ? cuda.deviceName : (smi[0]?.[0] ?? torch?.gpu?.name ?? null),
    gpusVisible: smi.length > 0 || torch?.cudaAvailable === true,
    driver: smi[0]?.[1] ?? null,
    ours: cuda
      ? cuda.available
        ? { available: true, cudnn: cuda.version, cudnnPath: cuda.cudnnPath, cudaRuntime: cuda.cudaRuntime, driverCuda: cuda.driver, computeCapability: cuda.computeCapability, memoryBytes: cuda.memoryBytes, devices: cuda.devices }
        : { available: false, reason: cuda.reason }
      : { available: false, reason: last?.importError ?? last?.infoError ?? 'the Node part did not run' },
    cudnnFoundBy: inputs.cudnnNote ?? (probes.length > 0 ? `the loader's own search (probe "${last?.label}")` : null),
    probes: probes.map((/** @type {any} */ p) => ({ label: p.label, env: p.env, cuda: p.info?.backends?.cuda ?? p.importError ?? p.infoError })),
    node: last?.node ?? null,
    cpu: last ? `${last.cpuModel} × ${last.cpus}` : null,
    oneDNN: last?.info?.backends?.cpu ? `${last.info.backends.cpu.version} (${last.info.backends.cpu.isa})` : null,
    torch: torch?.torch
      ? { version: torch.torch, torchvision: torch.torchvision ?? null, cuda: torch.cuda ?? null, cudnn: torch.cudnn ?? null, cudaAvailable: torch.cudaAvailable === true, gpu: torch.gpu ?? null, python: torch.python }
      : { version: null, reason: torch?.torchError ?? 'python3 did not report (see env.log)' },
  };
}

/**
 * Every check as one list: the parts' records, the environment check (a GPU is visible but our CUDA
 * backend is unavailable → failed), bench cells that failed or gave non-finite logits, and parts that
 * failed or ran out of time.
 * @param {SummaryInputs} inputs @param {ReturnType<typeof environmentOf>} environment
 */
function checksOf(inputs, environment) {
  /** @type {any[]} */
  const checks = [];
  if (!inputs.dryRun) {
    const name = 'CUDA backend available';
    if (environment.ours.available) checks.push({ group: 'environment', name, passed: true });
    else if (environment.gpusVisible) checks.push({ group: 'environment', name, passed: false, message: `a GPU is visible (nvidia-smi or PyTorch) but ours is unavailable: ${environment.ours.reason}` });
    else checks.push({ group: 'environment', name, skipped: `no GPU here: ${environment.ours.reason}` });
  }
  for (const [part, result] of /** @type {const} */ ([['ops', inputs.ops], ['parity', inputs.parity]])) {
    if (result?.skipped) checks.push({ group: part, name: `${part} part`, skipped: result.skipped });
    for (const record of result?.checks ?? []) checks.push({ ...record, error: num(record.error), maxRelative: num(record.maxRelative) });
  }
  for (const cell of inputs.bench?.cells ?? []) {
    const name = `bench resnet50 ${cell.dtype} b${cell.batch}${cell.legacy ? ' (legacy API only)' : ''}${cell.benchmark ? ' (benchmark: true)' : ''}`;
    if (cell.error) checks.push({ group: 'bench', name, precision: cell.dtype, passed: false, message: cell.error });
    else if (cell.finite === false) checks.push({ group: 'bench', name, precision: cell.dtype, passed: false, message: 'the logits hold NaN or infinity' });
  }
  checks.push(...serveChecks(inputs.serve));
  for (const part of inputs.parts) {
    if (part.status === 'failed' || part.status === 'timeout') {
      const log = `${part.name === 'serve' ? 'bench' : part.name}.log`;
      checks.push({ group: 'part', name: `part ${part.name}`, passed: false, message: part.status === 'timeout' ? `ran out of its ${part.seconds ?? '?'} s (see ${log})${part.note ? `: ${part.note}` : ''}` : `exited with status ${part.rc} (see ${log})${part.note ? `: ${part.note}` : ''}` });
    }
  }
  return checks;
}

/**
 * The worst relative L2 per (kind of check, precision), with the tolerance.
 * @param {any[]} checks
 */
function worstOf(checks) {
  /** @type {Map<string, { kind: string, precision: string, count: number, failed: number, worst: number, tolerance: number }>} */
  const groups = new Map();
  for (const c of checks) {
    if (c.skipped || typeof c.error !== 'number') continue;
    const kind = c.group === 'torch' ? (c.device === 'cpu' ? 'vs PyTorch, our CPU' : 'vs PyTorch, GPU') : c.group === 'op' ? 'ops vs our CPU' : c.group === 'variant' ? 'variants vs our CPU' : c.group;
    const key = `${kind}/${c.precision}`;
    const g = groups.get(key) ?? { kind, precision: c.precision, count: 0, failed: 0, worst: 0, tolerance: c.tolerance };
    g.count++;
    if (!c.passed) g.failed++;
    g.worst = Number.isNaN(c.error) || Number.isNaN(g.worst) ? NaN : Math.max(g.worst, c.error);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/**
 * The benchmark rows: ours and PyTorch per (dtype, batch), with ratios and the share of the FP16 peak.
 * @param {SummaryInputs} inputs @param {number | undefined} peakTflops
 */
function benchRowsOf(inputs, peakTflops) {
  /** @type {Map<string, any>} */
  const rows = new Map();
  const row = (/** @type {string} */ dtype, /** @type {number} */ batch) => {
    const key = `${dtype}/${batch}`;
    if (!rows.has(key)) rows.set(key, { dtype, batch });
    return rows.get(key);
  };
  for (const cell of inputs.bench?.cells ?? []) {
    if (cell.skipped || cell.legacy) continue;
    const r = row(cell.dtype, cell.batch);
    if (cell.error) r.oursError ??= cell.error;
    else {
      r.ours = { medianMs: num(cell.medianMs), p90Ms: num(cell.p90Ms), imgPerSec: num(cell.imgPerSec), iterations: cell.iterations, firstMs: num(cell.firstMs) };
      // The GPU's own time per forward (CUDA events, input copy excluded): the span eager's device-only timing covers.
      if (num(cell.deviceMs) > 0) r.oursDevice = { medianMs: num(cell.deviceMs), imgPerSec: imagesPerSecond(cell.batch, num(cell.deviceMs)) };
    }
  }
  for (const cell of inputs.torchBench?.eager ?? []) {
    const r = row(cell.dtype, cell.batch);
    if (cell.device?.medianMs) r.eagerDevice = { medianMs: cell.device.medianMs, p90Ms: cell.device.p90Ms, imgPerSec: imagesPerSecond(cell.batch, cell.device.medianMs) };
    if (cell.e2e?.medianMs) r.eagerE2e = { medianMs: cell.e2e.medianMs, p90Ms: cell.e2e.p90Ms, imgPerSec: imagesPerSecond(cell.batch, cell.e2e.medianMs) };
    if (cell.error) r.eagerError = cell.error;
  }
  for (const cell of inputs.torchBench?.compile ?? []) {
    if (cell.status !== 'ok') continue;
    const r = row(cell.dtype, cell.batch);
    r.compile = { mode: cell.mode, medianMs: cell.medianMs, p90Ms: cell.p90Ms, imgPerSec: imagesPerSecond(cell.batch, cell.medianMs), compileSeconds: cell.compileSeconds };
  }
  for (const r of rows.values()) {
    const ours = r.ours?.medianMs;
    if (ours > 0) {
      // Device-only against device-only where ours was measured so; end to end against end to end.
      if (r.eagerDevice) r.ratioEagerDevice = r.eagerDevice.medianMs / (r.oursDevice?.medianMs ?? ours);
      if (r.eagerE2e) r.ratioEagerE2e = r.eagerE2e.medianMs / ours;
      if (r.compile) r.ratioCompile = r.compile.medianMs / (r.oursDevice?.medianMs ?? ours);
      if (peakTflops) r.fractionOfFp16Peak = ((r.oursDevice ?? r.ours).imgPerSec * RESNET50_FLOP_PER_IMAGE) / (peakTflops * 1e12);
    }
  }
  const rank = (/** @type {string} */ d) => (DTYPE_ORDER.includes(d) ? DTYPE_ORDER.indexOf(d) : DTYPE_ORDER.length);
  return [...rows.values()].sort((a, b) => rank(a.dtype) - rank(b.dtype) || a.batch - b.batch);
}

/**
 * Per measured cell of ours: the paths its convs took, how long the graph API's plans took to build, and,
 * where the same cell also ran with the graph API off, both device times and the speedup.
 * @param {SummaryInputs} inputs
 */
function pathRowsOf(inputs) {
  const cells = (inputs.bench?.cells ?? []).filter((/** @type {any} */ c) => !c.skipped && !c.error);
  const timeOf = (/** @type {any} */ c) => num(c.deviceMs) > 0 ? num(c.deviceMs) : num(c.medianMs);
  return cells
    .filter((/** @type {any} */ c) => !c.legacy)
    .map((/** @type {any} */ c) => {
      const legacy = cells.find((/** @type {any} */ l) => l.legacy && l.dtype === c.dtype && l.batch === c.batch);
      const ms = timeOf(c);
      const legacyMs = legacy ? timeOf(legacy) : undefined;
      return {
        dtype: c.dtype,
        batch: c.batch,
        paths: c.paths ?? null,
        firstMs: num(c.firstMs),
        ms,
        legacyMs: legacyMs ?? null,
        legacyPaths: legacy?.paths ?? null,
        speedup: legacyMs && ms > 0 ? legacyMs / ms : null,
      };
    });
}

/**
 * Gathers the parts' results into the summary.
 * @param {SummaryInputs} inputs
 */
export function buildSummary(inputs) {
  const environment = environmentOf(inputs);
  const checks = checksOf(inputs, environment);
  const peakTflops = num(inputs.torchBench?.peak?.tflops);
  const benchRows = benchRowsOf(inputs, peakTflops);
  const at = (/** @type {number} */ batch) => benchRows.find((r) => r.dtype === 'float16' && r.batch === batch);
  const compileCell = (/** @type {number} */ batch) => (inputs.torchBench?.compile ?? []).find((/** @type {any} */ c) => c.batch === batch && c.dtype === 'float16');
  const b256 = at(256);
  const b1 = at(1);
  const gpuParity = checks.filter((c) => c.group === 'torch' && c.device !== 'cpu' && c.precision === 'float32' && !c.skipped);
  const torchWhy = inputs.torchBench?.skipped ?? (inputs.torchBench ? undefined : 'torch_bench left no results');
  const oursWhy = inputs.bench?.skipped ?? (inputs.bench ? undefined : 'the bench part left no results');
  const compileWhy = (/** @type {number} */ batch) => {
    const c = compileCell(batch);
    return c ? `torch.compile ${c.mode}: ${c.status}${c.reason ? ` (${c.reason})` : ''}` : torchWhy ?? 'torch.compile was not run';
  };
  const dryNote = 'a dry run measures no GPU figures';
  const targets = inputs.dryRun
    ? evaluateTargets({ fp32ParityCount: 0, notes: Object.fromEntries(['oursB256Ms', 'oursB1Ms', 'fp32ParityWorst'].map((k) => [k, dryNote])) })
    : evaluateTargets({
        // Device-only where measured (CUDA events, as eager's and torch.compile's timings), else end to end.
        oursB256Ms: b256?.oursDevice?.medianMs ?? b256?.ours?.medianMs,
        oursB1Ms: b1?.oursDevice?.medianMs ?? b1?.ours?.medianMs,
        eagerB256Ms: b256?.eagerDevice?.medianMs,
        eagerB256E2eMs: b256?.eagerE2e?.medianMs,
        eagerB1Ms: b1?.eagerDevice?.medianMs,
        eagerB1E2eMs: b1?.eagerE2e?.medianMs,
        compileB256Ms: b256?.compile?.medianMs,
        compileB1Ms: b1?.compile?.medianMs,
        peakTflops,
        fp32ParityWorst: gpuParity.length > 0 ? gpuParity.reduce((w, c) => (Number.isNaN(c.error ?? NaN) || Number.isNaN(w) ? NaN : Math.max(w, c.error)), 0) : undefined,
        fp32ParityCount: gpuParity.length,
        notes: {
          oursB256Ms: b256?.oursError ?? oursWhy ?? 'ours was not measured at float16 batch 256',
          oursB1Ms: b1?.oursError ?? oursWhy ?? 'ours was not measured at float16 batch 1',
          eagerB256Ms: b256?.eagerError ?? torchWhy ?? 'eager was not measured at float16 batch 256',
          eagerB1Ms: b1?.eagerError ?? torchWhy ?? 'eager was not measured at float16 batch 1',
          compileB256Ms: compileWhy(256),
          compileB1Ms: compileWhy(1),
          peakTflops: inputs.torchBench?.peak?.error ?? torchWhy ?? 'the FP16 matmul peak was not measured',
          fp32ParityWorst: inputs.parity?.skipped ?? 'no FP32 GPU logits were compared with torchvision',
        },
      });
  const int8Rows = int8RowsOf(inputs.int8, inputs.bench?.cells ?? []);
  const failed = checks.filter((c) => !c.skipped && !c.passed);
  const passed = checks.filter((c) => !c.skipped && c.passed);
  const skipped = checks.filter((c) => c.skipped);
  return {
    ok: failed.length === 0,
    dryRun: inputs.dryRun,
    generatedAt: new Date().toISOString(),
    environment,
    parts: inputs.parts,
    checks: { passed: passed.length, failed: failed.length, skipped: skipped.length, worst: worstOf(checks), list: checks },
    bench: {
      model: 'resnet50 224×224',
      flopPerImage: RESNET50_FLOP_PER_IMAGE,
      peakTflops: peakTflops ?? null,
      peak: inputs.torchBench?.peak ?? null,
      rows: benchRows,
      paths: pathRowsOf(inputs),
      compile: inputs.torchBench?.compile ?? [],
      prewarm: inputs.torchBench?.prewarm ?? [],
      oursBenchmark: inputs.bench?.benchmark,
      torchSkipped: torchWhy ?? null,
      oursSkipped: oursWhy ?? null,
    },
    serve: serveOf(inputs),
    hostPath: hostPathOf(inputs, b256?.oursDevice?.imgPerSec),
    int8: {
      rows: int8Rows,
      agreement: inputs.int8?.agreement ?? null,
      quantization: inputs.int8?.quantization ?? null,
      skipped: inputs.int8?.skipped ?? null,
      targets: evaluateInt8Targets(inputs.int8, int8Rows, inputs.dryRun ? dryNote : undefined),
    },
    targets,
    torchReference: inputs.torchRef ?? null,
  };
}

/**
 * The summary as text: a few lines of environment and verdict, the parts, the checks, then the
 * benchmark table and the targets table last.
 * @param {ReturnType<typeof buildSummary>} summary
 * @returns {string}
 */
export function renderSummary(summary) {
  const env = summary.environment;
  const lines = [];
  const verdict = summary.ok ? 'PASS' : 'FAIL';
  lines.push(`# GPU check: ${verdict}: ${summary.checks.passed} checks passed, ${summary.checks.failed} failed, ${summary.checks.skipped} skipped`);
  if (summary.dryRun) lines.push('', '**DRY RUN**: the CPU backend stood in for the GPU (GPU_CHECK_DRY_RUN=cpu); no figure below is a GPU figure.');
  lines.push('');
  lines.push(`- GPU: ${env.gpu ?? 'none seen'}${env.driver ? `, driver ${env.driver}` : ''}`);
  if (env.ours.available) {
    const o = env.ours;
    lines.push(`- ours: CUDA backend available: compute ${o.computeCapability}, CUDA runtime ${o.cudaRuntime} (driver supports ${o.driverCuda}), cuDNN ${o.cudnn} from ${o.cudnnPath}`);
  } else lines.push(`- ours: CUDA backend unavailable: ${oneLine(env.ours.reason)}`);
  if (env.ours.available && env.cudnnFoundBy) lines.push(`- cuDNN found by: ${env.cudnnFoundBy}`);
  const t = env.torch;
  lines.push(t.version ? `- PyTorch ${t.version} (CUDA ${t.cuda ?? 'none'}, cuDNN ${t.cudnn ?? 'none'}, GPU ${t.cudaAvailable ? 'available' : 'unavailable'}), torchvision ${t.torchvision ?? 'missing'}, Python ${t.python}` : `- PyTorch: not available: ${oneLine(t.reason)}`);
  lines.push(`- Node ${env.node ?? '?'}, CPU ${env.cpu ?? '?'}, oneDNN ${env.oneDNN ?? '?'}`);

  lines.push('', '## Parts', '');
  lines.push(formatTable(['part', 'status', 's', 'note'], summary.parts.map((p) => [p.name, p.status, p.seconds === null ? MISSING : String(p.seconds), oneLine(p.note || '', 160)])));

  lines.push('', `## Checks: ${summary.checks.passed} passed, ${summary.checks.failed} failed, ${summary.checks.skipped} skipped`, '');
  if (summary.checks.worst.length > 0) {
    lines.push(formatTable(
      ['checks', 'precision', 'count', 'failed', 'worst rel. L2', 'tolerance'],
      summary.checks.worst.map((w) => [w.kind, w.precision, String(w.count), String(w.failed), formatError(w.worst), formatError(w.tolerance)]),
      { align: ['l', 'l', 'r', 'r', 'r', 'r'] },
    ));
  }
  const failures = summary.checks.list.filter((c) => !c.skipped && !c.passed);
  if (failures.length > 0) {
    lines.push('', 'Failed:');
    const nameOf = (/** @type {any} */ c) => `${c.group}: ${c.name}${c.precision && !String(c.name).includes(c.precision) ? ` ${c.precision}` : ''}`;
    // Errors past a tolerance one by one; failures that share a message (one cause, many checks) once.
    const overTolerance = failures.filter((c) => typeof c.error === 'number');
    for (const c of overTolerance.slice(0, 20)) lines.push(`- ${nameOf(c)}: ${formatError(c.error)} > ${formatError(c.tolerance)}`);
    if (overTolerance.length > 20) lines.push(`- … and ${overTolerance.length - 20} more over their tolerance (summary.json)`);
    /** @type {Map<string, any[]>} */
    const byMessage = new Map();
    for (const c of failures.filter((f) => typeof f.error !== 'number')) {
      const message = oneLine(c.message ?? 'failed', 400);
      byMessage.set(message, [...(byMessage.get(message) ?? []), c]);
    }
    for (const [message, checks] of byMessage) {
      const names = checks.slice(0, 3).map(nameOf).join('; ');
      lines.push(`- ${checks.length === 1 ? names : `${checks.length} checks (${names}${checks.length > 3 ? '; …' : ''})`}: ${message}`);
    }
  }
  const skippedReasons = [...new Set(summary.checks.list.filter((c) => c.skipped).map((c) => oneLine(c.skipped, 400)))];
  if (skippedReasons.length > 0) {
    lines.push('', 'Skipped:');
    for (const reason of skippedReasons.slice(0, 6)) lines.push(`- ${reason}`);
  }

  const b = summary.bench;
  lines.push('', `## ${b.model}: ours and PyTorch eager, device-only (CUDA events) and end to end (host tensor in → host tensor out)`, '');
  if (b.oursBenchmark !== undefined) lines.push(`Ours with ${b.oursBenchmark ? 'benchmark: true (algorithms timed when compiling, as cudnn.benchmark)' : 'the heuristics\' algorithms (GPU_CHECK_OURS_BENCHMARK=0)'}; PyTorch with cudnn.benchmark=True.`);
  lines.push(`FP16 dense matmul peak measured: ${b.peakTflops ? `${b.peakTflops.toFixed(1)} TFLOP/s` : `not measured${b.torchSkipped ? ` (${b.torchSkipped})` : ''}`}; ${(b.flopPerImage / 1e9).toFixed(2)} GFLOP per image.${b.oursSkipped ? ` Ours: ${b.oursSkipped}.` : ''}`);
  for (const c of b.compile) {
    const prewarm = (b.prewarm ?? []).find((/** @type {any} */ p) => p.mode === c.mode && p.batch === c.batch);
    const cold = prewarm?.compileSeconds ? ` (the cold compile ahead of it took ${prewarm.compileSeconds.toFixed(1)} s)` : '';
    lines.push(`torch.compile FP16 batch ${c.batch} (${c.mode}): ${c.status === 'ok' ? `${formatMs(c.medianMs)} ms median, compiled in ${c.compileSeconds?.toFixed?.(1) ?? '?'} s${cold}` : `${c.status}${c.reason ? `: ${oneLine(c.reason, 300)}` : ''}`}`);
  }
  lines.push('');
  lines.push(formatTable(
    ['dtype', 'batch', 'ours img/s dev', 'ours img/s e2e', 'ours ms e2e p50/p90', 'eager img/s dev', 'eager img/s e2e', 'vs eager dev', 'vs eager e2e', 'compile img/s', 'vs compile', '% FP16 peak'],
    b.rows.map((r) => [
      r.dtype,
      String(r.batch),
      formatRate(r.oursDevice?.imgPerSec),
      r.ours ? formatRate(r.ours.imgPerSec) : r.oursError ? 'failed' : MISSING,
      r.ours ? `${formatMs(r.ours.medianMs)} / ${formatMs(r.ours.p90Ms)}` : MISSING,
      formatRate(r.eagerDevice?.imgPerSec),
      formatRate(r.eagerE2e?.imgPerSec),
      formatRatio(r.ratioEagerDevice),
      formatRatio(r.ratioEagerE2e),
      formatRate(r.compile?.imgPerSec),
      formatRatio(r.ratioCompile),
      formatPercent(r.fractionOfFp16Peak),
    ]),
    { align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'] },
  ));

  if (b.paths.length > 0) {
    lines.push('', '## Ours: the path of each conv (cuDNN graph API / legacy fused call / conv + epilogue kernel), and the graph API\'s effect', '');
    lines.push(formatTable(
      ['dtype', 'batch', 'convs', 'graph API', 'fused', 'unfused', 'stem (input conversion + conv, ms)', 'graph plans ms', 'first forward ms', 'ms (dev)', 'legacy only ms (dev)', 'graph API speedup', 'note'],
      b.paths.map((/** @type {any} */ r) => [
        r.dtype,
        String(r.batch),
        r.paths ? String(r.paths.total) : MISSING,
        r.paths ? String(r.paths.graphApi) : MISSING,
        r.paths ? String(r.paths.fused) : MISSING,
        r.paths ? String(r.paths.unfused) : MISSING,
        r.paths?.stem ? stemLine(r.paths.stem) : MISSING,
        r.paths?.graphPlanMs !== undefined ? String(r.paths.graphPlanMs) : MISSING,
        r.firstMs > 0 ? r.firstMs.toFixed(0) : MISSING,
        formatMs(r.ms),
        r.legacyMs ? formatMs(r.legacyMs) : MISSING,
        formatRatio(r.speedup ?? undefined),
        oneLine([r.paths?.graphNote ? `graph API: ${r.paths.graphNote}` : '', r.paths?.eager ? `eager: ${r.paths.eager}` : ''].filter(Boolean).join('; '), 120),
      ]),
      { align: ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'l'] },
    ));
  }

  lines.push(...renderHostPath(summary.hostPath));
  lines.push(...renderServe(summary.serve));
  lines.push('', '## INT8 (FP8 E4M3 convs on Hopper): resnet50 device-only img/s and targets (issue 15)', '');
  if (summary.int8.quantization) lines.push(`Quantization: ${summary.int8.quantization}.`, '');
  if (summary.int8.rows.length > 0) {
    lines.push(formatTable(['batch', 'int8 img/s', 'float16 img/s', 'int8/float16', 'note'], summary.int8.rows.map((r) => [String(r.batch), r.int8DeviceImgPerSec ? formatRate(r.int8DeviceImgPerSec) : MISSING, r.float16DeviceImgPerSec ? formatRate(r.float16DeviceImgPerSec) : MISSING, r.ratio ? formatRatio(r.ratio) : MISSING, oneLine(r.error ?? '', 200)])), '');
  }
  lines.push(formatTable(['target', 'status', 'measured'], summary.int8.targets.map((x) => [x.label, x.status, oneLine(x.text, 300)])));

  lines.push('', '## Targets (issue 3)', '');
  lines.push(formatTable(['target', 'status', 'measured'], summary.targets.map((x) => [x.label, x.status, oneLine(x.text, 300)])));
  return `${lines.join('\n')}\n`;
}
