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
