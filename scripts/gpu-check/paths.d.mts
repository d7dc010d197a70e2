export interface ConvPaths {
  total: number;
  graphApi: number;
  fused: number;
  unfused: number;
  graphPlanMs?: number;
  graphNote?: string;
  eager?: string;
}
export function convPathsOf(text: string | undefined): ConvPaths | undefined;
export function pathsLine(paths: ConvPaths | undefined): string;
