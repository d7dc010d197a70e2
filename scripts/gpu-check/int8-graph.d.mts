export function weightRounding(): Promise<(weight: Float32Array, scales: Float32Array) => Float32Array>;
export function quantizeWithRanges<G>(graph: G, ranges: readonly number[], toGrid: (weight: Float32Array, scales: Float32Array) => Float32Array): G;
export function valueRanges(lib: unknown, graph: unknown, options: Record<string, unknown>, batch: number, input: Float32Array): Promise<number[]>;
