// The conv paths of one of our CUDA executables, read from its describe() text (CudaExecutable::describe in
// native/src/cuda/gpu/executable_describe.cc): how many convs took the cuDNN graph API, the legacy fused call, or
// conv + epilogue kernel; the stem's form and each form's time (its "stem:" line, written by choose_stem_form in
// native/src/cuda/stem_choice.cc); how long the graph API's plans took to build; why they were dropped; whether
// runs are eager instead of replaying a CUDA graph.

/**
 * @typedef {{ form: string, how: 'timed' | 'forced' | 'only' | 'none', ms?: Record<string, number>, paths?: Record<string, string>, failed?: Record<string, string> }} StemPaths
 */

/**
 * The stem's form from its "stem:" line: which form runs, how it was chosen, and when timed, each form's
 * milliseconds per call (input conversion + conv) with the conv path that gave them, and why the others failed.
 * @param {string} text
 * @returns {StemPaths | undefined}
 */
function stemOf(text) {
  const line = /^stem: (\w+) \((.*)\)$/m.exec(text);
  if (!line) return undefined;
  const [, form, detail] = /** @type {[string, string, string]} */ (/** @type {unknown} */ (line));
  if (detail.startsWith('forced')) return { form, how: 'forced' };
  if (detail.startsWith('the only form')) return { form, how: 'only' };
  if (!detail.startsWith('timed')) return { form, how: 'none' };
  /** @type {StemPaths} */
  const stem = { form, how: 'timed', ms: {}, paths: {} };
  for (const [, name, ms, path] of detail.matchAll(/(\w+) ([0-9.eE+-]+) \[([^\]]*)\]/g)) {
    /** @type {Record<string, number>} */ (stem.ms)[/** @type {string} */ (name)] = Number(ms);
    /** @type {Record<string, string>} */ (stem.paths)[/** @type {string} */ (name)] = /** @type {string} */ (path);
  }
  for (const [, name, why] of detail.matchAll(/(\w+) (?:failed|dropped) \[([^\]]*)\]/g)) {
    stem.failed = { ...stem.failed, [/** @type {string} */ (name)]: /** @type {string} */ (why) };
  }
  return stem;
}

/**
 * The conv paths an executable's describe() reports: its "convs: N (g graph API, f fused, u unfused …)" line,
 * how long the graph API's plans took to build, and why they were dropped, if they were.
 * @param {string | undefined} text
 * @returns {{ total: number, graphApi: number, fused: number, unfused: number, stem?: StemPaths, graphPlanMs?: number, graphNote?: string, eager?: string } | undefined}
 */
export function convPathsOf(text) {
  const counts = /convs: (\d+) \((\d+) graph API, (\d+) fused, (\d+) unfused/.exec(text ?? '');
  if (!counts) return undefined;
  const [total, graphApi, fused, unfused] = counts.slice(1).map(Number);
  /** @type {{ total: number, graphApi: number, fused: number, unfused: number, stem?: StemPaths, graphPlanMs?: number, graphNote?: string, eager?: string }} */
  const paths = { total, graphApi, fused, unfused };
  const stem = stemOf(text ?? '');
  if (stem) paths.stem = stem;
  const built = /graph API: plans built in (\d+) ms(?:; (.*))?/.exec(text ?? '');
  if (built) {
    paths.graphPlanMs = Number(built[1]);
    if (built[2]) paths.graphNote = built[2];
  } else if (/graph API: off/.test(text ?? '')) paths.graphNote = 'off';
  const eager = /float32 input: eager launches \(([^\n]*)\)/.exec(text ?? '');
  if (eager) paths.eager = eager[1];
  return paths;
}

/**
 * The stem in a few words: "space_to_depth (timed: direct 0.912, space_to_depth 0.498 ms; four_channel failed)".
 * @param {StemPaths | undefined} stem
 * @returns {string}
 */
export function stemLine(stem) {
  if (!stem) return '';
  if (stem.how !== 'timed') return `${stem.form} (${stem.how})`;
  const times = Object.entries(stem.ms ?? {}).map(([form, ms]) => `${form} ${ms}`).join(', ');
  const failed = Object.keys(stem.failed ?? {}).map((form) => `${form} failed`).join(', ');
  return `${stem.form} (timed: ${times} ms${failed ? `; ${failed}` : ''})`;
}

/**
 * One line for the log: "54 convs: 50 graph API, 3 fused, 1 unfused (graph plans built in 812 ms); stem …".
 * @param {ReturnType<typeof convPathsOf>} p
 * @returns {string}
 */
export function pathsLine(p) {
  if (!p) return 'conv paths not reported';
  return `${p.total} convs: ${p.graphApi} graph API, ${p.fused} fused, ${p.unfused} unfused${p.graphPlanMs !== undefined ? ` (graph plans built in ${p.graphPlanMs} ms)` : ''}${p.stem ? `; stem ${stemLine(p.stem)}` : ''}${p.graphNote ? `; graph API: ${p.graphNote}` : ''}${p.eager ? `; EAGER: ${p.eager}` : ''}`;
}
