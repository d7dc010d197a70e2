export interface StemPaths {
  form: string;
  how: 'timed' | 'forced' | 'only' | 'none';
  ms?: Record<string, number>;
  paths?: Record<string, string>;
  failed?: Record<string, string>;
}
export interface ConvPaths {
  total: number;
  graphApi: number;
  fused: number;
  unfused: number;
  stem?: StemPaths;
  graphPlanMs?: number;
  graphNote?: string;
  eager?: string;
}
export function convPathsOf(text: string | undefined): ConvPaths | undefined;
export function stemLine(stem: StemPaths | undefined): string;
export function pathsLine(paths: ConvPaths | undefined): string;
