// Types of the parts of int8.mjs the TypeScript tests use.
export declare function agreementOf(a: Float32Array, b: Float32Array, n: number): { images: number; top1Agreement: number; relativeL2: number };
