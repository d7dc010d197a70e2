// Types of int8-summary.mjs for the TypeScript tests.
import type { Target } from './targets.mjs';
export declare const INT8_GOALS: Readonly<{ deviceB256ImgPerSec: number; fromBatch: number; top1Agreement: number }>;
export interface Int8Row { batch: number; int8DeviceImgPerSec: number | null; float16DeviceImgPerSec: number | null; ratio: number | null; error: string | null }
export declare function int8RowsOf(int8: unknown, benchCells: readonly unknown[]): Int8Row[];
export declare function evaluateInt8Targets(int8: unknown, rows: readonly Int8Row[], why: string | undefined): Target[];
