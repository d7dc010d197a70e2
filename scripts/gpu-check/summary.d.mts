// Types of summary.mjs for the TypeScript tests; the parts' JSON stays loosely typed, as it is read back.
import type { Target } from './targets.mjs';
export interface PartStatus {
  name: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  rc: number | null;
  seconds: number | null;
  note: string;
}
export interface SummaryInputs {
  dryRun: boolean;
  parts: PartStatus[];
  nvidiaSmi?: string[];
  cudnnNote?: string;
  torchEnv?: any;
  nodeEnv?: any;
  ops?: any;
  parity?: any;
  bench?: any;
  serve?: any;
  torchRef?: any;
  torchBench?: any;
}
export interface Summary {
  ok: boolean;
  dryRun: boolean;
  generatedAt: string;
  environment: any;
  parts: PartStatus[];
  checks: { passed: number; failed: number; skipped: number; worst: any[]; list: any[] };
  bench: { peakTflops: number | null; rows: any[]; paths: any[]; compile: any[]; [key: string]: unknown };
  serve: { rows: any[]; notes: string[]; targets: Target[]; [key: string]: unknown };
  targets: Target[];
  torchReference: any;
}
export declare function parseParts(text: string): PartStatus[];
export declare function buildSummary(inputs: SummaryInputs): Summary;
export declare function renderSummary(summary: Summary): string;
