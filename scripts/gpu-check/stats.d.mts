// Types of stats.mjs for the TypeScript tests (the .mjs runs on GPU machines without a compiler).
export declare function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number;
export declare function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number;
export declare function percentile(values: readonly number[], p: number): number;
export declare function median(values: readonly number[]): number;
export declare function summarizeTimes(times: readonly number[]): { iterations: number; medianMs: number; p90Ms: number; minMs: number; meanMs: number };
export declare function imagesPerSecond(batch: number, ms: number): number;
