/**
 * `summary(model, [N, C, H, W])`: torchinfo's `summary(model, input_size=…)` from a trace, with no
 * arithmetic run. One row per module call (a module called twice, like a block's shared `relu`, gives
 * two rows), in the order the calls start, numbered per depth (`Conv2d: 3-4`); rows deeper than `depth`
 * are hidden but numbered. Every figure is counted torchinfo's way (its 1.8 release), so that the totals
 * print as torchinfo prints them for the same torchvision model:
 *
 * - mult-adds of a leaf call (a module without children), for each of its parameters named `weight` or
 *   `bias`: a module whose class name contains `Conv` counts parameters × N × H_out × W_out (the input
 *   channels are in the weight); any other counts parameters × N (BatchNorm's 2·C per sample, Linear's
 *   weight and bias). A container counts the sum of the leaf calls inside it. The total is the sum over
 *   leaf calls. (`macsPerSample` counts convolutions and linear weights only: the usual GMAC figures.)
 * - forward/backward pass size: twice (activations and their gradients) the float32 output of every leaf
 *   call that has parameters; params size: 4 bytes per parameter; input size: the float32 input (torchinfo
 *   adds Python's storage header, under 100 bytes); megabytes are 10⁶ bytes.
 * - a container's "Param #" is what it owns directly ("--" when nothing), at the depth limit its total.
 * @module
 */
import { invalidArgument } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Tracer, type Trace } from '../nn/trace.js';
import { formatTable } from './summary-table.js';

/** One module call of a {@link ModelSummary}. */
export interface SummaryRow {
  /** Dotted module path (`layer1.0.conv1`; '' for the model itself). */
  readonly path: string;
  /** The module's class name (`Conv2d`). */
  readonly className: string;
  /** 0 for the model, 1 for its children, … */
  readonly depth: number;
  /** The row's number among the rows of its depth, from 1 (torchinfo's depth-idx, `3-4`). */
  readonly depthIndex: number;
  /** The call's output shape, batch included. */
  readonly outputShape: readonly number[];
  /** Parameters of the module and its descendants (each tensor once). */
  readonly params: number;
  /** Parameters the module holds itself, not through a child. */
  readonly ownParams: number;
  /** Mult-adds of this call, counted as torchinfo does (see the module notes); a container's: its leaf calls'. */
  readonly macs: number;
  /** True for a module without children. */
  readonly leaf: boolean;
  /** True when the module was called earlier in the forward pass (torchinfo's "(recursive)"). */
  readonly recursive: boolean;
}

/** The columns a summary table can show after the layer name. */
export type SummaryColumn = 'outputShape' | 'params' | 'macs';

/** Options of {@link summary}. */
export interface SummaryOptions {
  /** Rows deeper than this are hidden (their figures still count); default 3, as torchinfo. */
  depth?: number;
  /** Columns after the layer name; default `['outputShape', 'params', 'macs']`. */
  columns?: readonly SummaryColumn[];
}

/** What {@link summary} reports: the rows as data, the totals, and the table torchinfo would print. */
export interface ModelSummary {
  /** Every module call, hidden ones included, in call order. */
  readonly rows: readonly SummaryRow[];
  /** The input size given, `[N, C, H, W]`. */
  readonly inputSize: readonly number[];
  readonly totalParams: number;
  /** Every parameter: this library has no frozen parameters (PyTorch's default `requires_grad`). */
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
  /** The sum of the leaf calls' mult-adds, for the whole batch. */
  readonly totalMultAdds: number;
  readonly inputBytes: number;
  readonly forwardBackwardBytes: number;
  readonly paramBytes: number;
  /** Input, forward/backward pass and parameter bytes together (torchinfo's "Estimated Total Size"). */
  readonly totalBytes: number;
  /** The table, as torchinfo prints it. */
  readonly table: string;
  /** The table. */
  toString(): string;
}

const allColumns: readonly SummaryColumn[] = ['outputShape', 'params', 'macs'];
const float32Bytes = 4;

function checkInputSize(inputSize: unknown): number[] {
  if (!Array.isArray(inputSize) || inputSize.length < 2 || !inputSize.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 1)) {
    throw invalidArgument('an input size [N, C, H, W] of positive integers, batch first', 'summary inputSize', inputSize);
  }
  return [...inputSize] as number[];
}

function checkSummaryOptions(options: SummaryOptions | undefined): Required<SummaryOptions> {
  if (options === undefined) return { depth: 3, columns: allColumns };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidArgument('an options object { depth?, columns? }', 'summary options', options);
  const unknown = Object.keys(options).filter((k) => k !== 'depth' && k !== 'columns');
  if (unknown.length > 0) throw invalidArgument('only the options depth and columns', 'summary options', unknown);
  const depth = options.depth ?? 3;
  if (!Number.isSafeInteger(depth) || depth < 0) throw invalidArgument('a non-negative integer', 'summary options.depth', depth);
  const columns = options.columns ?? allColumns;
  if (!Array.isArray(columns) || !columns.every((c) => allColumns.includes(c)) || new Set(columns).size !== columns.length) {
    throw invalidArgument(`distinct column names among ${allColumns.map((c) => `"${c}"`).join(', ')}`, 'summary options.columns', columns);
  }
  return { depth, columns };
}

/** torchinfo's mult-adds of one leaf call: see the module notes. */
function leafMacs(module: Module, outputShape: readonly number[]): number {
  const batch = outputShape[0]!;
  const isConv = module.constructor.name.includes('Conv');
  let macs = 0;
  for (const [name, p] of module.namedParameters()) {
    if (name === 'weight' || name === 'bias') {
      macs += isConv ? p.numel * batch * outputShape.slice(2).reduce((a, b) => a * b, 1) : batch * p.numel;
    } else if (name.includes('weight') || name.includes('bias')) {
      macs += outputShape[0]! * (outputShape[1] ?? 1) * p.numel;
    }
  }
  return macs;
}

function ownParams(module: Module): number {
  const fromChildren = new Set(module.children().flatMap((c) => c.parameters()));
  return module.parameters().reduce((n, p) => n + (fromChildren.has(p) ? 0 : p.numel), 0);
}

/** The rows of `trace` for a batch of `batch`. */
function rowsOf(trace: Trace, batch: number): SummaryRow[] {
  const counters = new Map<number, number>();
  const called = new Set<Module>();
  const rows = trace.calls.map((call) => {
    const depthIndex = (counters.get(call.depth) ?? 0) + 1;
    counters.set(call.depth, depthIndex);
    const leaf = call.module.children().length === 0;
    const outputShape = [batch, ...trace.values[call.output]!.shape];
    const row = {
      path: call.path,
      className: call.module.constructor.name,
      depth: call.depth,
      depthIndex,
      outputShape,
      params: call.module.numParameters(),
      ownParams: ownParams(call.module),
      macs: leaf ? leafMacs(call.module, outputShape) : 0,
      leaf,
      recursive: called.has(call.module),
    };
    called.add(call.module);
    return row;
  });
  // A container's mult-adds: the leaf calls that follow it, deeper, until the depth comes back up.
  for (let i = 0; i < rows.length; i++) {
    if (rows[i]!.leaf) continue;
    let macs = 0;
    for (let j = i + 1; j < rows.length && rows[j]!.depth > rows[i]!.depth; j++) if (rows[j]!.leaf) macs += rows[j]!.macs;
    rows[i]!.macs = macs;
  }
  return rows;
}

/**
 * A torchinfo-style summary of `model` on an input of `inputSize` (`[N, C, H, W]`): per-call rows (output
 * shape, parameters, mult-adds) and the totals (parameters, mult-adds, input, forward/backward pass and
 * parameter sizes), counted as torchinfo counts them (see the module notes), and the table it prints.
 * Traces the model; runs nothing, so it needs no backend. `String(summary(resnet50(), [1, 3, 224, 224]))`
 * ends with torchinfo's "Total params: 25,557,032" … "Total mult-adds (G): 4.09".
 * @throws InvalidArgumentError for a bad input size or option; ShapeError when the model cannot take the input.
 */
export function summary(model: Module, inputSize: readonly number[], options?: SummaryOptions): ModelSummary {
  const size = checkInputSize(inputSize);
  const { depth, columns } = checkSummaryOptions(options);
  const trace = Tracer.trace(model, size.slice(1));
  const rows = rowsOf(trace, size[0]!);
  const totalParams = model.numParameters();
  let totalMultAdds = 0;
  let outputBytes = 0;
  for (const row of rows) {
    if (!row.leaf) continue;
    totalMultAdds += row.macs;
    if (row.params > 0) outputBytes += 2 * float32Bytes * row.outputShape.reduce((a, b) => a * b, 1);
  }
  const inputBytes = float32Bytes * size.reduce((a, b) => a * b, 1);
  const paramBytes = float32Bytes * totalParams;
  const totals = {
    inputSize: size,
    totalParams,
    trainableParams: totalParams,
    nonTrainableParams: 0,
    totalMultAdds,
    inputBytes,
    forwardBackwardBytes: outputBytes,
    paramBytes,
    totalBytes: inputBytes + outputBytes + paramBytes,
  };
  const table = formatTable(rows, totals, { depth, columns });
  return {
    rows,
    ...totals,
    table,
    toString: () => table,
    [Symbol.for('nodejs.util.inspect.custom')]: () => table,
  } as ModelSummary;
}
