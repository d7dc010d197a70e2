// Types of targets.mjs for the TypeScript tests.
export declare const RESNET50_FLOP_PER_IMAGE: number;
export interface TargetInputs {
  oursB256Ms?: number;
  oursB1Ms?: number;
  eagerB256Ms?: number;
  eagerB256E2eMs?: number;
  eagerB1Ms?: number;
  eagerB1E2eMs?: number;
  compileB256Ms?: number;
  compileB1Ms?: number;
  peakTflops?: number;
  fp32ParityWorst?: number;
  fp32ParityCount?: number;
  notes?: Record<string, string>;
}
export interface Target {
  id: string;
  label: string;
  status: 'met' | 'missed' | 'not measured';
  value: number | null;
  goal: number;
  shortfall: number | null;
  text: string;
}
export declare function evaluateTargets(inputs: TargetInputs): Target[];
export declare const SERVE_GOALS: { uint8: number; shm: number; jpeg: number; fp32: number };
export declare const SERVE_P99_MS: number;
export declare const SERVE_UINT8_C1_P50_MS: number;
export interface ServeLevel {
  concurrency: number;
  imgPerSec: number;
  p50Ms: number;
  p99Ms: number;
}
export interface ServeKindResult {
  levels: ServeLevel[];
  why?: string;
}
export declare function evaluateServeTargets(kinds: Partial<Record<'uint8' | 'shm' | 'jpeg' | 'fp32', ServeKindResult>>, why?: string): Target[];
export declare function nextServeLevel(done: readonly ServeLevel[], goal: number, plan: { start: number; factor: number; max: number }): number | null;
export declare const HOST_PATH_GOALS: {
  deviceB256ImgPerSec: number;
  uint8B256Share: number;
  uint8B32Share: number;
  float32B256Share: number;
  uint8B1P50Ms: number;
};
export declare function evaluateHostPathTargets(records: readonly object[], deviceB256ImgPerSec: number | undefined, why: string | undefined): Target[];
