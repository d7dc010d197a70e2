/**
 * An int8 graph emulated in float ("fake quantization"), as graph.ts's "Quantized graphs" define it: every
 * quantized value is rounded to its grid (half to even, saturating), each conv reads its src's real values
 * and its grid weights, adds its bias and residual, applies its ReLU, and is rounded to its dst's grid.
 * The integer conv computes the same sum exactly (acc · s_src · s_w = Σ (s_src q_src)(s_w q_w)), so this
 * differs from a real int8 backend only by float rounding. Each op runs alone on the native float32 engine;
 * the adds, ReLUs and rounding run here.
 */
import { compileGraph, roundHalfEven, type Executable, type Graph, type GraphOp, type ValueQuantization } from '../../lib/index.js';

/** Rounds `x` in place to `quant`'s grid: scale · clamp(roundHalfEven(x / scale)). */
export function fakeQuantize(x: Float32Array, quant: ValueQuantization): Float32Array {
  const [lo, hi] = quant.dtype === 'uint8' ? [0, 255] : [-128, 127];
  for (let i = 0; i < x.length; i++) x[i] = quant.scale * Math.min(hi, Math.max(lo, roundHalfEven(x[i]! / quant.scale)));
  return x;
}

/** Runs an annotated graph op by op with fake quantization; each op's executable is compiled once per batch. */
export class FakeQuantRunner implements Disposable {
  private readonly executables = new Map<string, Executable>();

  constructor(private readonly graph: Graph) {}

  private async single(index: number, op: GraphOp, batch: number): Promise<Executable> {
    const key = `${index}/${batch}`;
    let e = this.executables.get(key);
    if (!e) {
      const src = (op as { src: number }).src;
      const alone = { ...op, src: 0, dst: 1, ...(op.op === 'conv' ? { residual: -1, relu: false, weightScales: undefined } : {}) } as GraphOp;
      const g: Graph = { values: [{ shape: this.graph.values[src]!.shape }, { shape: this.graph.values[op.dst]!.shape }], input: 0, outputs: [1], ops: [alone] };
      e = await compileGraph(g, { backend: 'cpu', batch, precision: 'float32' });
      this.executables.set(key, e);
    }
    return e;
  }

  /** The graph's first output on `x` (`[batch, ...input shape]`, float32). */
  async run(x: Float32Array, batch: number): Promise<Float32Array> {
    const { graph } = this;
    const values = new Map<number, Float32Array>();
    const quantOf = (id: number) => graph.values[id]!.quant;
    const store = (id: number, data: Float32Array) => {
      const q = quantOf(id);
      values.set(id, q ? fakeQuantize(data, q) : data);
    };
    store(graph.input, Float32Array.from(x));
    for (const [index, op] of graph.ops.entries()) {
      if (op.op === 'add' || op.op === 'relu') {
        const y = Float32Array.from(values.get(op.op === 'add' ? op.a : op.src)!);
        if (op.op === 'add') {
          const b = values.get(op.b)!;
          for (let i = 0; i < y.length; i++) y[i]! += b[i]!;
        }
        if (op.op === 'relu' || op.relu) for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]!);
        store(op.dst, y);
        continue;
      }
      const [y] = await (await this.single(index, op, batch)).run(values.get(op.src)!);
      if (op.op === 'conv') {
        if (op.residual >= 0) {
          const r = values.get(op.residual)!;
          for (let i = 0; i < y!.length; i++) y![i]! += r[i]!;
        }
        if (op.relu) for (let i = 0; i < y!.length; i++) y![i] = Math.max(0, y![i]!);
      }
      store(op.dst, y!);
    }
    return values.get(graph.outputs[0]!)!;
  }

  [Symbol.dispose](): void {
    for (const e of this.executables.values()) e.dispose();
  }
}
