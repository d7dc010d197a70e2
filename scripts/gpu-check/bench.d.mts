// Types of the parts of bench.mjs the TypeScript tests use (the .mjs runs on GPU machines without a compiler).
export declare function compileLegacy(
  lib: unknown,
  model: unknown,
  subject: { backend: string; ordinal: number },
  cell: { dtype: string; batch: number; benchmark: boolean; image: readonly number[] },
): Promise<{ run(input: Float32Array): Promise<Float32Array[]>; describe(): string; lastRunDeviceMs: number; dispose(): void }>;
