// Types of table.mjs for the TypeScript tests.
export declare const MISSING: string;
export declare function formatMs(ms: number | null | undefined): string;
export declare function formatRate(rate: number | null | undefined): string;
export declare function formatRatio(ratio: number | null | undefined): string;
export declare function formatPercent(fraction: number | null | undefined): string;
export declare function formatError(error: number | string | null | undefined): string;
export declare function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], options?: { align?: readonly ('l' | 'r')[] }): string;
export declare function oneLine(text: unknown, max?: number): string;
