// The conv paths of one of our CUDA executables, read from its describe() text (CudaExecutable::describe in
// native/src/cuda/gpu/executable_describe.cc): how many convs took the cuDNN graph API, the legacy fused call, or
// conv + epilogue kernel; how long the graph API's plans took to build; why they were dropped; whether runs
// are eager instead of replaying a CUDA graph.

/**
 * The conv paths an executable's describe() reports: its "convs: N (g graph API, f fused, u unfused …)" line,
 * how long the graph API's plans took to build, and why they were dropped, if they were.
 * @param {string | undefined} text
 * @returns {{ total: number, graphApi: number, fused: number, unfused: number, graphPlanMs?: number, graphNote?: string, eager?: string } | undefined}
 */
export function convPathsOf(text) {
  const counts = /convs: (\d+) \((\d+) graph API, (\d+) fused, (\d+) unfused/.exec(text ?? '');
  if (!counts) return undefined;
  const [total, graphApi, fused, unfused] = counts.slice(1).map(Number);
  /** @type {{ total: number, graphApi: number, fused: number, unfused: number, graphPlanMs?: number, graphNote?: string, eager?: string }} */
  const paths = { total, graphApi, fused, unfused };
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
 * One line for the log: "54 convs: 50 graph API, 3 fused, 1 unfused (graph plans built in 812 ms)".
 * @param {ReturnType<typeof convPathsOf>} p
 * @returns {string}
 */
export function pathsLine(p) {
  if (!p) return 'conv paths not reported';
  return `${p.total} convs: ${p.graphApi} graph API, ${p.fused} fused, ${p.unfused} unfused${p.graphPlanMs !== undefined ? ` (graph plans built in ${p.graphPlanMs} ms)` : ''}${p.graphNote ? `; graph API: ${p.graphNote}` : ''}${p.eager ? `; EAGER: ${p.eager}` : ''}`;
}
