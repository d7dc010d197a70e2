// @ts-check
/**
 * Reading the server's `/metrics` (Prometheus text format) for the load test: the samples of one model,
 * summed over every label set but the model's own (failures carry a `reason` label).
 * @module
 */

/**
 * Parses Prometheus text into samples; comments and blank lines are skipped.
 * @param {string} text
 * @returns {{ name: string; labels: Record<string, string>; value: number }[]}
 */
export function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    // Label values are quoted with \\, \" and \n escaped; no value here holds a comma inside quotes that
    // matters to us, but parse them properly anyway so a label like reason="A,B" cannot split a sample.
    for (const label of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The sum of metric `name` over the samples whose labels include every pair of `where`.
 * @param {ReturnType<typeof parsePrometheus>} samples
 * @param {string} name
 * @param {Record<string, string>} [where]
 */
export function sumOf(samples, name, where = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/**
 * What the load test reads of one model at one moment: Triton's cumulative counters, failures by
 * reason, and the server's resident memory.
 * @param {string} text the `/metrics` body
 * @param {string} model
 * @param {string} version
 */
export function modelSnapshot(text, model, version) {
  const samples = parsePrometheus(text);
  const where = { model, version };
  /** @type {Record<string, number>} */
  const failures = {};
  for (const s of samples) {
    if (s.name === 'nv_inference_request_failure' && s.labels.model === model && s.labels.version === version) {
      const reason = s.labels.reason ?? 'OTHER';
      failures[reason] = (failures[reason] ?? 0) + s.value;
    }
  }
  return {
    success: sumOf(samples, 'nv_inference_request_success', where),
    failures,
    inferenceCount: sumOf(samples, 'nv_inference_count', where),
    execCount: sumOf(samples, 'nv_inference_exec_count', where),
    pending: sumOf(samples, 'nv_inference_pending_request_count', where),
    rssBytes: sumOf(samples, 'process_resident_memory_bytes'),
  };
}

/**
 * The change between two snapshots: requests, images, batches, the average batch size the batcher
 * formed (images per engine run), and failures by reason.
 * @param {ReturnType<typeof modelSnapshot>} before
 * @param {ReturnType<typeof modelSnapshot>} after
 */
export function snapshotDelta(before, after) {
  const images = after.inferenceCount - before.inferenceCount;
  const batches = after.execCount - before.execCount;
  /** @type {Record<string, number>} */
  const failures = {};
  for (const reason of new Set([...Object.keys(before.failures), ...Object.keys(after.failures)])) {
    const n = (after.failures[reason] ?? 0) - (before.failures[reason] ?? 0);
    if (n > 0) failures[reason] = n;
  }
  return {
    success: after.success - before.success,
    images,
    batches,
    averageBatch: batches > 0 ? images / batches : NaN,
    failures,
  };
}
