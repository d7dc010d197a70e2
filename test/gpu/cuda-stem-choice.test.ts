/**
 * Which form the stem runs in (native/src/cuda/stem_choice.h), decided on evidence written here through the
 * addon's test-only `testing.cudaStemChoice`: the fastest form whose output agrees with direct's, a forced
 * form as is, direct when nothing else qualifies; and the "stem:" line describe() prints, which the GPU check
 * reads (scripts/gpu-check/paths.mjs). What the evidence is on a real GPU (each form's input conversion and
 * conv timed, outputs compared) only a GPU shows: the GPU check records it for every cell.
 */
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../lib/runtime/native.js';
import { convPathsOf } from '../../scripts/gpu-check/paths.mjs';
import { codeOf } from '../helpers/helpers.js';

type Form = 'direct' | 'space_to_depth' | 'four_channel';
interface Evidence {
  form: Form;
  ms?: number;
  path?: string;
  relativeError?: number;
  failure?: string;
}
interface Question {
  forms: Form[];
  unavailable?: string[];
  precision?: string;
  forced?: Form;
  evidence: Evidence[];
}

const testing = (loadNative() as unknown as { testing: { cudaStemChoice(question: unknown): { form: Form; describe: string } } }).testing;
const choose = (question: Question): { form: Form; describe: string } => testing.cudaStemChoice(question);

const forms: Form[] = ['direct', 'space_to_depth', 'four_channel'];
const timed = (ms: [number, number, number], errors: [number, number] = [1e-4, 2e-4]): Evidence[] => [
  { form: 'direct', ms: ms[0], path: 'fused IMPLICIT_PRECOMP_GEMM', relativeError: 0 },
  { form: 'space_to_depth', ms: ms[1], path: 'graph engine 7', relativeError: errors[0] },
  { form: 'four_channel', ms: ms[2], path: 'unfused IMPLICIT_GEMM', relativeError: errors[1] },
];

describe('the stem\'s form: the fastest that agrees with direct', () => {
  it('keeps the fastest timed form', () => {
    expect(choose({ forms, evidence: timed([0.9, 0.5, 0.7]) }).form).toBe('space_to_depth');
    expect(choose({ forms, evidence: timed([0.9, 0.8, 0.7]) }).form).toBe('four_channel');
    expect(choose({ forms, evidence: timed([0.4, 0.5, 0.7]) }).form).toBe('direct');
  });

  it('settles ties for the form listed first (direct first)', () => {
    expect(choose({ forms, evidence: timed([0.5, 0.5, 0.5]) }).form).toBe('direct');
    expect(choose({ forms, evidence: timed([0.6, 0.5, 0.5]) }).form).toBe('space_to_depth');
  });

  it('never keeps a form whose output strays from direct\'s beyond the precision\'s tolerance, NaN included', () => {
    expect(choose({ forms, evidence: timed([0.9, 0.5, 0.7], [2e-2, 1e-3]) }).form).toBe('four_channel');
    expect(choose({ forms, evidence: timed([0.9, 0.5, 0.7], [NaN, 1e-2]) }).form).toBe('four_channel'); // 1e-2: within, inclusive
    expect(choose({ forms, evidence: timed([0.9, 0.5, 0.7], [NaN, 1.5e-2]) }).form).toBe('direct');
    const unchecked = timed([0.9, 0.5, 0.7]).map(({ relativeError, ...e }) => (e.form === 'direct' ? { ...e, relativeError } : e));
    expect(choose({ forms, evidence: unchecked }).form).toBe('direct');
    // float32 holds the forms to 1e-4, bfloat16 to 5e-2.
    expect(choose({ forms: ['direct', 'space_to_depth'], precision: 'float32', evidence: timed([0.9, 0.5, 0.7], [2e-4, 0]).slice(0, 2) }).form).toBe('direct');
    expect(choose({ forms, precision: 'bfloat16', evidence: timed([0.9, 0.5, 0.7], [4e-2, 0]) }).form).toBe('space_to_depth');
  });

  it('leaves out forms that could not be timed, and says why', () => {
    const evidence: Evidence[] = [
      { form: 'direct', ms: 0.9, path: 'fused IMPLICIT_PRECOMP_GEMM', relativeError: 0 },
      { form: 'space_to_depth', failure: 'cuDNN has no algorithm for conv step 1 (graph op 0) at float16' },
      { form: 'four_channel', ms: 0.95, path: 'unfused IMPLICIT_GEMM', relativeError: 0 },
    ];
    const choice = choose({ forms, evidence });
    expect(choice.form).toBe('direct');
    expect(choice.describe).toBe('stem: direct (timed, input conversion + conv, ms per call: direct 0.9 [fused IMPLICIT_PRECOMP_GEMM], '
      + 'space_to_depth failed [cuDNN has no algorithm for conv step 1 (graph op 0) at float16], four_channel 0.95 [unfused IMPLICIT_GEMM])');
  });

  it('takes a forced form as is, without evidence; a lone form and no stem say so', () => {
    expect(choose({ forms, forced: 'four_channel', evidence: [] })).toEqual({ form: 'four_channel', describe: 'stem: four_channel (forced by options.cudnn.stem)' });
    expect(choose({ forms, forced: 'direct', evidence: timed([0.9, 0.5, 0.7]) }).form).toBe('direct');
    const only = choose({ forms: ['direct'], unavailable: ['space_to_depth: the stem (graph.ops[0]) does not qualify: its stride is 1x1 (space-to-depth takes equal strides of 2 to 4)', 'four_channel: direct already stores the input as 4 channels in float32'], evidence: [] });
    expect(only.form).toBe('direct');
    expect(only.describe).toMatch(/^stem: direct \(the only form: space_to_depth: .*; four_channel: direct already stores/);
    const none = { forms: [] as Form[], unavailable: ['no stem forms: the graph input has 64 channels, more than 4'], evidence: [] };
    expect(choose(none)).toEqual({ form: 'direct', describe: 'stem: none (no stem forms: the graph input has 64 channels, more than 4)' });
    // Forced on a graph without a stem: direct is its plain plan; another form is passed on, for laying the
    // plan out to refuse (testing.cudaPlan's stem option shows that refusal).
    expect(choose({ ...none, forced: 'direct' })).toEqual(choose(none));
    expect(choose({ ...none, forced: 'space_to_depth' }).form).toBe('space_to_depth');
  });

  it('refuses malformed questions with ERR_INVALID_ARGUMENT', () => {
    for (const bad of [null, { forms: 'direct', evidence: [] }, { forms: ['fast'], evidence: [] }, { forms, evidence: [{ form: 'direct', ms: '1' }] }, { forms, evidence: [], forced: 'auto' }, { forms, evidence: [], precision: 'fp8' }]) {
      expect(codeOf(() => testing.cudaStemChoice(bad)), JSON.stringify(bad)).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('the stem line of describe(), as the GPU check reads it', () => {
  const described = (stemLine: string): string => [
    'CUDA executable on device 0: float16, batch 256; weights 51462144 bytes, activations 411041792 bytes, workspace 1048576 bytes',
    'convs: 54 (50 graph API, 3 fused, 1 unfused: cudnnConvolutionForward + epilogue kernel)',
    stemLine,
    'graph API: plans built in 812 ms',
    '',
  ].join('\n');

  it('reads the chosen form and every form\'s time and path from the line choose_stem_form writes', () => {
    const evidence = timed([0.912, 0.498, 0.733]);
    evidence[2] = { form: 'four_channel', failure: 'unfused IMPLICIT_GEMM: running the stem as four_channel (unfused IMPLICIT_GEMM): CUDNN_STATUS_NOT_SUPPORTED' };
    const { describe: line } = choose({ forms, evidence });
    const paths = convPathsOf(described(line))!;
    expect(paths.stem).toEqual({
      form: 'space_to_depth',
      how: 'timed',
      ms: { direct: 0.912, space_to_depth: 0.498 },
      paths: { direct: 'fused IMPLICIT_PRECOMP_GEMM', space_to_depth: 'graph engine 7' },
      failed: { four_channel: 'unfused IMPLICIT_GEMM: running the stem as four_channel (unfused IMPLICIT_GEMM): CUDNN_STATUS_NOT_SUPPORTED' },
    });
    expect(paths).toMatchObject({ total: 54, graphApi: 50, graphPlanMs: 812 });
  });

  it('reads forced, lone and absent stems, and describe() texts without a stem line', () => {
    expect(convPathsOf(described(choose({ forms, forced: 'four_channel', evidence: [] }).describe))!.stem).toEqual({ form: 'four_channel', how: 'forced' });
    expect(convPathsOf(described(choose({ forms: ['direct'], unavailable: ['x'], evidence: [] }).describe))!.stem).toEqual({ form: 'direct', how: 'only' });
    expect(convPathsOf(described(choose({ forms: [], unavailable: ['y'], evidence: [] }).describe))!.stem).toEqual({ form: 'none', how: 'none' });
    expect(convPathsOf(described('').replace('\n\n', '\n'))!.stem).toBeUndefined();
  });
});
