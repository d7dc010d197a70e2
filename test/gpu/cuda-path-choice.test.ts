// Which path each conv of a CUDA executable takes (cuDNN's graph API, the legacy fused call, or conv + our
// epilogue kernel), decided by choose_conv_path (native/src/cuda/conv_path_choice.h) from the evidence that
// compiling gathers: the trial run (did cuDNN run the fused call; how far was each graph plan's output from
// the legacy path's), the timing with `benchmark`, and the CUDA-graph capture check. The rule is plain C++,
// reached here through `testing.cudaPathChoice`, so every case runs without a GPU; what a GPU adds is the
// evidence itself (test/cuda-backend.test.ts). Also the settings the choice's inputs come from
// (`testing.cudaSettings`): the environment's defaults and a compile's `cudnn` option over them.
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../lib/runtime/native.js';
import { codeOf, rng } from '../helpers/helpers.js';

type Mode = 'graph' | 'fused' | 'unfused';

/** One graph plan's evidence, as js_path_choice_testing.cc reads it. */
interface PlanEvidence {
  name: string;
  trial?: 'notRun' | 'ran' | 'refused';
  relativeError?: number;
  refusal?: string;
  timing?: 'notTimed' | 'timed' | 'failed' | 'failedForIdenticalConv';
  ms?: number;
  timingFailure?: string;
}

interface Evidence {
  precision?: 'float32' | 'tf32' | 'float16' | 'bfloat16';
  benchmark?: boolean;
  fused?: 'notFusable' | 'notTried' | 'ran' | 'refused';
  fusedAlgorithm?: string;
  fusedWhy?: string;
  fusedMs?: number;
  unfusedMs?: number;
  plans?: PlanEvidence[];
  capture?: 'notChecked' | 'captured' | 'failedWithPlans' | 'failedWithPlansOnly' | 'failedEitherWay';
}

interface Choice {
  mode: Mode;
  legacyMode: Mode;
  plan: number;
  ranked: number[];
  note: string;
  graphNote: string;
}

interface Settings {
  graphApi: boolean;
  graphApiOffBy: string;
  graphCandidates: number;
  graphBudgetMs: number;
  graphBudgetBy: string;
  verbose: boolean;
  stem: string;
  planLimit: [number, number];
  buildBudgetMs: number;
}

const testing = (loadNative() as unknown as {
  testing: { cudaPathChoice(evidence: unknown): Choice; cudaSettings(environment: unknown, cudnn?: unknown): Settings };
}).testing;
const choose = (evidence: Evidence): Choice => testing.cudaPathChoice(evidence);

/** A plan that ran in the trial run, `error` from the legacy path's output. */
const ran = (name: string, error: number, extra: Partial<PlanEvidence> = {}): PlanEvidence => ({ name, trial: 'ran', relativeError: error, ...extra });
/** The same, timed at `ms` per call. */
const timed = (name: string, error: number, ms: number): PlanEvidence => ran(name, error, { timing: 'timed', ms });

describe('choosing a conv\'s path without timings', () => {
  it('prefers the first graph plan that agreed with the legacy path, in cuDNN\'s order', () => {
    const choice = choose({ precision: 'float16', fused: 'ran', plans: [ran('engine 12', 3e-3), ran('engine 7', 1e-3)] });
    expect(choice).toEqual({ mode: 'graph', legacyMode: 'fused', plan: 0, ranked: [0, 1], note: '', graphNote: '' });
  });

  it('holds each plan to its precision\'s tolerance, inclusive: 1e-4 float32, 1e-2 tf32 and float16, 5e-2 bfloat16', () => {
    const cases: [Evidence['precision'], number, number][] = [
      ['float32', 1e-4, 2e-4],
      ['tf32', 1e-2, 2e-2],
      ['float16', 1e-2, 2e-2],
      ['bfloat16', 5e-2, 6e-2],
    ];
    for (const [precision, within, beyond] of cases) {
      const choice = choose({ precision, fused: 'ran', plans: [ran('engine 1', beyond), ran('engine 2', within)] });
      expect(choice.mode, precision).toBe('graph');
      expect(choice.plan, precision).toBe(1);
      expect(choice.ranked, precision).toEqual([1]);
      expect(choice.graphNote, precision).toBe(`engine 1 dropped: relative L2 ${beyond} from the legacy path's output`);
    }
    // What float16 accepts, float32 does not.
    expect(choose({ precision: 'float32', fused: 'ran', plans: [ran('engine 1', 5e-3)] }).mode).toBe('fused');
    expect(choose({ precision: 'float16', fused: 'ran', plans: [ran('engine 1', 5e-3)] }).mode).toBe('graph');
  });

  it('never chooses a plan that failed verification: too far, NaN, or refused at run time', () => {
    const choice = choose({
      precision: 'float16',
      fused: 'ran',
      plans: [ran('engine 3', 0.5), ran('engine 4', NaN), { name: 'engine 5', trial: 'refused', refusal: 'CUDNN_STATUS_EXECUTION_FAILED' }],
    });
    expect(choice).toEqual({
      mode: 'fused',
      legacyMode: 'fused',
      plan: -1,
      ranked: [],
      note: '',
      graphNote: "engine 3 dropped: relative L2 0.5 from the legacy path's output; engine 4 dropped: relative L2 nan from the legacy path's output; engine 5 refused at run time (CUDNN_STATUS_EXECUTION_FAILED)",
    });
    // Not even when it was timed fastest of all.
    const tuned = choose({
      precision: 'float16', benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.75,
      plans: [ran('engine 3', 0.5, { timing: 'timed', ms: 0.0625 }), timed('engine 8', 1e-3, 0.25)],
    });
    expect([tuned.mode, tuned.plan, tuned.ranked]).toEqual(['graph', 1, [1]]);
  });

  it('runs conv + epilogue where cuDNN refused the fused call, or no fused algorithm fits, saying why', () => {
    const refused = choose({ fused: 'refused', fusedAlgorithm: 'IMPLICIT_PRECOMP_GEMM', fusedWhy: 'CUDNN_STATUS_NOT_SUPPORTED' });
    expect(refused).toEqual({
      mode: 'unfused', legacyMode: 'unfused', plan: -1, ranked: [],
      note: 'unfused: cuDNN refused the fused call with IMPLICIT_PRECOMP_GEMM (CUDNN_STATUS_NOT_SUPPORTED)', graphNote: '',
    });
    const unfusable = choose({ fused: 'notFusable', fusedWhy: 'IMPLICIT_PRECOMP_GEMM wants 300000000 bytes of workspace, over the cap' });
    expect([unfusable.mode, unfusable.note]).toEqual(['unfused', 'unfused: IMPLICIT_PRECOMP_GEMM wants 300000000 bytes of workspace, over the cap']);
    // A refused fused call stays refused even with a (stray) time faster than conv + epilogue.
    const tuned = choose({ benchmark: true, fused: 'refused', fusedAlgorithm: 'GEMM', fusedWhy: 'CUDNN_STATUS_BAD_PARAM', fusedMs: 0.125, unfusedMs: 0.5 });
    expect([tuned.mode, tuned.legacyMode]).toEqual(['unfused', 'unfused']);
    // A verified graph plan still beats the legacy path when nothing is timed.
    expect(choose({ fused: 'refused', fusedAlgorithm: 'GEMM', fusedWhy: 'x', plans: [ran('engine 9', 0)] }).mode).toBe('graph');
  });

  it('with no evidence at all, runs conv + epilogue, and never an unverified plan', () => {
    expect(choose({})).toEqual({
      mode: 'unfused', legacyMode: 'unfused', plan: -1, ranked: [], note: 'unfused: the fused call has not been tried', graphNote: '',
    });
    const untried = choose({ fused: 'ran', plans: [{ name: 'engine 1' }, { name: 'engine 2', trial: 'notRun' }] });
    expect([untried.mode, untried.plan, untried.ranked, untried.graphNote]).toEqual(['fused', -1, [], '']);
  });

  it('with `benchmark` but nothing timed yet (the trial run\'s choice), prefers a verified plan', () => {
    const choice = choose({ benchmark: true, fused: 'ran', plans: [ran('engine 1', 0), ran('engine 2', 0)] });
    expect([choice.mode, choice.plan, choice.ranked]).toEqual(['graph', 0, [0, 1]]);
  });
});

describe('choosing a conv\'s path with `benchmark`', () => {
  const plans = (a: number, b: number) => [timed('engine 1', 1e-5, a), timed('engine 2', 1e-5, b)];

  it('keeps the fastest of every timed path', () => {
    // A graph plan fastest: the plans ranked by time; the legacy pair decided on its own (unfused faster).
    expect(choose({ precision: 'float16', benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.375, plans: plans(0.4375, 0.25) })).toEqual({
      mode: 'graph', legacyMode: 'unfused', plan: 1, ranked: [1, 0], note: 'unfused: faster than the fused call when timed', graphNote: '',
    });
    // The fused call fastest.
    expect(choose({ precision: 'float16', benchmark: true, fused: 'ran', fusedMs: 0.125, unfusedMs: 0.375, plans: plans(0.4375, 0.25) })).toEqual({
      mode: 'fused', legacyMode: 'fused', plan: -1, ranked: [1, 0], note: '', graphNote: '',
    });
    // Conv + epilogue fastest.
    const unfused = choose({ precision: 'float16', benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.0625, plans: plans(0.4375, 0.25) });
    expect([unfused.mode, unfused.legacyMode, unfused.plan, unfused.note]).toEqual(['unfused', 'unfused', -1, 'unfused: faster than the fused call when timed']);
    // Without `benchmark` the same times decide nothing: the first verified plan runs.
    const untuned = choose({ precision: 'float16', fused: 'ran', fusedMs: 0.125, unfusedMs: 0.375, plans: plans(0.4375, 0.25) });
    expect([untuned.mode, untuned.legacyMode, untuned.plan, untuned.ranked]).toEqual(['graph', 'fused', 0, [0, 1]]);
  });

  it('leaves out plans that failed when timed, noting it only for the conv they were timed for', () => {
    const failed = choose({
      benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.75,
      plans: [ran('engine 1', 0, { timing: 'failed', timingFailure: 'CUDNN_STATUS_EXECUTION_FAILED' }), timed('engine 2', 0, 0.375)],
    });
    expect(failed).toEqual({
      mode: 'graph', legacyMode: 'fused', plan: 1, ranked: [1], note: '', graphNote: 'engine 1 failed when timed (CUDNN_STATUS_EXECUTION_FAILED)',
    });
    const shared = choose({
      benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.75,
      plans: [ran('engine 1', 0, { timing: 'failedForIdenticalConv' }), timed('engine 2', 0, 0.375)],
    });
    expect([shared.plan, shared.ranked, shared.graphNote]).toEqual([1, [1], '']);
    // A plan that failed when timed is out without `benchmark` too.
    expect(choose({ fused: 'ran', plans: [ran('engine 1', 0, { timing: 'failed', timingFailure: 'x' })] }).mode).toBe('fused');
  });

  it('settles ties for what is already there: the legacy path over a plan, fused over unfused, cuDNN\'s order among plans', () => {
    const planTie = choose({ benchmark: true, fused: 'ran', fusedMs: 0.25, unfusedMs: 0.5, plans: plans(0.25, 0.375) });
    expect([planTie.mode, planTie.plan, planTie.ranked]).toEqual(['fused', -1, [0, 1]]);
    const legacyTie = choose({ benchmark: true, fused: 'ran', fusedMs: 0.25, unfusedMs: 0.25 });
    expect([legacyTie.mode, legacyTie.note]).toEqual(['fused', '']);
    const plansTie = choose({
      benchmark: true, fused: 'ran', fusedMs: 1, unfusedMs: 1,
      plans: [timed('engine 1', 0, 0.375), timed('engine 2', 0, 0.25), timed('engine 3', 0, 0.25)],
    });
    expect([plansTie.mode, plansTie.plan, plansTie.ranked]).toEqual(['graph', 1, [1, 2, 0]]);
  });

  it('compares a plan with the better legacy path only: a plan slower than conv + epilogue loses though faster than the fused call', () => {
    const choice = choose({ benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.125, plans: plans(0.25, 0.375) });
    expect([choice.mode, choice.legacyMode, choice.ranked]).toEqual(['unfused', 'unfused', [0, 1]]);
  });

  it('once the legacy path is timed, leaves out a plan that was not (it cannot be compared)', () => {
    const choice = choose({ benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.75, plans: [ran('engine 1', 0), timed('engine 2', 0, 1)] });
    expect([choice.mode, choice.ranked, choice.graphNote]).toEqual(['fused', [1], 'engine 1 not timed']);
  });
});

describe('choosing a conv\'s path after the capture check', () => {
  const evidence: Evidence = { benchmark: true, fused: 'ran', fusedMs: 0.5, unfusedMs: 0.75, plans: [timed('engine 1', 0, 0.375), timed('engine 2', 0, 0.25)] };

  it('puts a conv back on its legacy path when the forward could be captured only without the plans', () => {
    expect(choose({ ...evidence, capture: 'captured' })).toMatchObject({ mode: 'graph', plan: 1 });
    for (const capture of ['failedWithPlans', 'failedWithPlansOnly'] as const) {
      // The plans stay ranked: describe() lists their times.
      expect(choose({ ...evidence, capture }), capture).toEqual({ mode: 'fused', legacyMode: 'fused', plan: -1, ranked: [1, 0], note: '', graphNote: '' });
    }
    // Failing without the plans too is not the plans' doing: they stay.
    expect(choose({ ...evidence, capture: 'failedEitherWay' })).toMatchObject({ mode: 'graph', plan: 1 });
    // Untimed, the same.
    expect(choose({ fused: 'refused', fusedAlgorithm: 'A', fusedWhy: 'B', plans: [ran('engine 1', 0)], capture: 'failedWithPlansOnly' }))
      .toMatchObject({ mode: 'unfused', plan: -1, ranked: [0] });
  });
});

/**
 * The executable's choice as it was made before choose_conv_path existed (cuda_executable.cc's trial_run,
 * verify_graph_plans, time_paths and settle_workspace_and_capture, transcribed step by step), for the
 * comparison below: the same evidence must give the same path, plans and notes. Relative errors cross as the
 * C++ prints them (`%g`), from `shown`.
 */
function previousChoice(e: Evidence, stage: 'trial' | 'timed' | 'captured', shown: Map<number, string>) {
  const tolerance = { float32: 1e-4, tf32: 1e-2, float16: 1e-2, bfloat16: 5e-2 }[e.precision ?? 'float32'];
  // trial_run
  let mode: Mode = 'unfused';
  let note = e.fused === 'notFusable' && e.fusedWhy ? `unfused: ${e.fusedWhy}` : '';
  if (e.fused === 'ran') mode = 'fused';
  if (e.fused === 'refused') note = `unfused: cuDNN refused the fused call with ${e.fusedAlgorithm} (${e.fusedWhy})`;
  let legacyMode = mode;
  let graphNote = '';
  let plans = (e.plans ?? []).map((plan, index) => ({ ...plan, index }));
  if (plans.length > 0) {
    let dropped = '';
    const kept = [];
    for (const plan of plans) {
      if (plan.trial === 'refused') dropped += `; ${plan.name} refused at run time (${plan.refusal})`;
      else if (plan.relativeError! <= tolerance) kept.push(plan);
      else dropped += `; ${plan.name} dropped: relative L2 ${shown.get(plan.relativeError!)} from the legacy path's output`;
    }
    plans = kept;
    if (dropped) graphNote += graphNote ? dropped : dropped.slice(2);
    if (kept.length > 0) mode = 'graph';
  }
  // time_paths
  if (stage !== 'trial' && e.benchmark) {
    if (legacyMode === 'fused' && e.unfusedMs! < e.fusedMs!) {
      legacyMode = 'unfused';
      note = 'unfused: faster than the fused call when timed';
    }
    const legacyMs = legacyMode === 'fused' ? e.fusedMs! : e.unfusedMs!;
    mode = legacyMode;
    const timedPlans = [];
    for (const plan of plans) {
      if (plan.timing === 'failed') graphNote += `${graphNote ? '; ' : ''}${plan.name} failed when timed (${plan.timingFailure})`;
      else if (plan.timing === 'timed') timedPlans.push(plan);
    }
    plans = timedPlans.sort((a, b) => Math.fround(a.ms!) - Math.fround(b.ms!));
    if (plans.length > 0 && Math.fround(plans[0]!.ms!) < Math.fround(legacyMs)) mode = 'graph';
  }
  // settle_workspace_and_capture
  if (stage === 'captured' && mode === 'graph' && e.capture === 'failedWithPlansOnly') mode = legacyMode;
  return { mode, legacyMode, plan: mode === 'graph' ? plans[0]!.index : -1, ranked: plans.map((p) => p.index), note, graphNote };
}

describe('the choice against the executable\'s before it was gathered into choose_conv_path', () => {
  it('agrees on 3000 random convs, stage by stage (after the trial run, the timing, the capture check)', () => {
    const random = rng(61);
    const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    // Relative errors as C++ streams print them.
    const shown = new Map([[0, '0'], [1e-5, '1e-05'], [9e-5, '9e-05'], [1e-4, '0.0001'], [3e-3, '0.003'], [1e-2, '0.01'], [0.03, '0.03'], [0.05, '0.05'], [0.25, '0.25'], [NaN, 'nan']]);
    const times = [0.125, 0.25, 0.375, 0.5, 0.3, 0.1];
    const counts = { graph: 0, fused: 0, unfused: 0 };
    for (let i = 0; i < 3000; i++) {
      const fused = pick(['notFusable', 'ran', 'refused'] as const);
      const benchmark = random() < 0.6;
      const plans: PlanEvidence[] = Array.from({ length: pick([0, 1, 2, 3]) }, (_, p) => {
        const trial = random() < 0.15 ? 'refused' : 'ran';
        return trial === 'refused'
          ? { name: `engine ${p}`, trial, refusal: 'CUDNN_STATUS_EXECUTION_FAILED' }
          : { name: `engine ${p}`, trial, relativeError: pick([...shown.keys()]) };
      });
      const trialEvidence: Evidence = {
        precision: pick(['float32', 'tf32', 'float16', 'bfloat16'] as const), benchmark, fused, plans,
        ...(fused === 'refused' ? { fusedAlgorithm: 'IMPLICIT_GEMM', fusedWhy: 'CUDNN_STATUS_NOT_SUPPORTED' } : {}),
        ...(fused === 'notFusable' && random() < 0.5 ? { fusedWhy: 'IMPLICIT_PRECOMP_GEMM wants 1 bytes of workspace, over the cap' } : {}),
      };
      const stages: [Evidence, 'trial' | 'timed' | 'captured'][] = [[trialEvidence, 'trial']];
      let timedEvidence = trialEvidence;
      if (benchmark) {
        // What time_paths measures: conv + epilogue, the fused call where it ran, the plans the trial kept.
        const trialChoice = choose(trialEvidence);
        timedEvidence = {
          ...trialEvidence,
          unfusedMs: pick(times),
          ...(fused === 'ran' ? { fusedMs: pick(times) } : {}),
          plans: plans.map((plan, p) => (!trialChoice.ranked.includes(p) ? plan
            : pick([{ ...plan, timing: 'timed' as const, ms: pick(times) }, { ...plan, timing: 'timed' as const, ms: pick(times) },
              { ...plan, timing: 'failed' as const, timingFailure: 'CUDNN_STATUS_INTERNAL_ERROR' }, { ...plan, timing: 'failedForIdenticalConv' as const }]))),
        };
        stages.push([timedEvidence, 'timed']);
      }
      stages.push([{ ...timedEvidence, capture: pick(['captured', 'failedWithPlansOnly', 'failedEitherWay'] as const) }, 'captured']);
      for (const [evidence, stage] of stages) {
        const context = `${stage}: ${JSON.stringify(evidence)}`;
        expect(choose(evidence), context).toEqual(previousChoice(evidence, stage, shown));
      }
      counts[choose(stages.at(-1)![0]).mode]++;
    }
    // Every path was taken often enough for the comparison to mean something.
    for (const [mode, count] of Object.entries(counts)) expect(count, mode).toBeGreaterThan(300);
  });
});

describe('testing.cudaPathChoice', () => {
  it('refuses malformed evidence with ERR_INVALID_ARGUMENT, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /^Expected an object for evidence but received undefined$/],
      [{ fused: 'maybe' }, /^Expected one of "notFusable", "notTried", "ran", "refused" for evidence\.fused but received "maybe"$/],
      [{ plans: [{ trial: 'ran' }] }, /^Expected a string for evidence\.plans\[0\]\.name but received undefined$/],
      [{ plans: [{ name: 'a', relativeError: '0' }] }, /^Expected a number for evidence\.plans\[0\]\.relativeError but received "0"$/],
      [{ benchmark: 1 }, /^Expected a boolean for evidence\.benchmark but received 1$/],
      [{ capture: 'dropped' }, /for evidence\.capture but received "dropped"$/],
    ];
    for (const [evidence, message] of cases) {
      let error: { code?: string; message?: string } = {};
      try {
        testing.cudaPathChoice(evidence);
      } catch (e) {
        error = e as typeof error;
      }
      expect(error.code, JSON.stringify(evidence)).toBe('ERR_INVALID_ARGUMENT');
      expect(error.message).toMatch(message);
    }
  });
});

describe('the CUDA settings: the environment\'s defaults, a compile\'s `cudnn` option over them', () => {
  const defaults: Settings = {
    graphApi: true, graphApiOffBy: '', graphCandidates: 0, graphBudgetMs: 30000, graphBudgetBy: 'RESNET_CUDNN_GRAPH_BUDGET_MS',
    verbose: false, stem: 'auto', planLimit: [1, 3], buildBudgetMs: 30000,
  };

  it('reads each variable as documented, out-of-range values leaving the default', () => {
    expect(testing.cudaSettings({})).toEqual(defaults);
    expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH: '0' })).toMatchObject({ graphApi: false, graphApiOffBy: 'RESNET_CUDNN_GRAPH=0' });
    for (const on of ['1', '', 'no']) expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH: on }).graphApi, on).toBe(true);
    expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_CANDIDATES: '5' })).toMatchObject({ graphCandidates: 5, planLimit: [5, 5] });
    for (const bad of ['0', '17', 'x', '']) expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_CANDIDATES: bad }).planLimit, bad).toEqual([1, 3]);
    expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_BUDGET_MS: '2500' })).toMatchObject({ graphBudgetMs: 2500, buildBudgetMs: 2500 });
    expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_BUDGET_MS: '0' })).toMatchObject({ graphBudgetMs: 0, buildBudgetMs: Infinity });
    for (const bad of ['-1', 'soon', '']) expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_BUDGET_MS: bad }).buildBudgetMs, bad).toBe(30000);
    for (const [value, verbose] of [['1', true], ['yes', true], ['0', false], ['', false]] as const) {
      expect(testing.cudaSettings({ RESNET_CUDNN_VERBOSE: value }).verbose, value).toBe(verbose);
    }
  });

  it('applies a compile\'s `cudnn` option over the environment, field by field', () => {
    const environment = { RESNET_CUDNN_GRAPH: '0', RESNET_CUDNN_GRAPH_CANDIDATES: '4', RESNET_CUDNN_VERBOSE: '1' };
    expect(testing.cudaSettings(environment, { graphApi: true })).toMatchObject({ graphApi: true, graphApiOffBy: '', planLimit: [4, 4], verbose: true });
    expect(testing.cudaSettings({}, { graphApi: false })).toMatchObject({ graphApi: false, graphApiOffBy: 'options.cudnn.graphApi: false' });
    expect(testing.cudaSettings(environment, { graphCandidates: 2, verbose: false })).toMatchObject({ graphApi: false, planLimit: [2, 2], verbose: false });
    expect(testing.cudaSettings({}, { graphBudgetMs: 0 })).toMatchObject({ buildBudgetMs: Infinity, graphBudgetBy: 'options.cudnn.graphBudgetMs' });
    expect(testing.cudaSettings({}, { graphBudgetMs: 1500 })).toMatchObject({ buildBudgetMs: 1500, graphBudgetBy: 'options.cudnn.graphBudgetMs' });
    expect(testing.cudaSettings({ RESNET_CUDNN_GRAPH_BUDGET_MS: '2500' }, {})).toMatchObject({ buildBudgetMs: 2500, graphBudgetBy: 'RESNET_CUDNN_GRAPH_BUDGET_MS' });
    for (const stem of ['auto', 'direct', 'space_to_depth', 'four_channel']) expect(testing.cudaSettings({}, { stem }).stem).toBe(stem);
    expect(codeOf(() => testing.cudaSettings({}, { stem: 'fastest' }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
