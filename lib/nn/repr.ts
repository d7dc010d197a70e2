/**
 * A module printed as PyTorch prints it: the tree layout of `Module.toString`, and Python spellings for
 * {@link Module.extraRepr}, so that a printed model reads exactly as PyTorch's (`eps=1e-05`,
 * `kernel_size=(3, 3)`, `bias=False`).
 * @internal
 * @module
 */
/**
 * One module as PyTorch's `repr` writes it: `Name(extra)` on one line, or its extra lines and its children
 * (each `(name): repr`, indented under its attribute name) on lines of their own. @internal
 */
export function moduleRepr(className: string, extra: string, children: Iterable<[string, string]>): string {
  const extraLines = extra ? extra.split('\n') : [];
  const childLines = [...children].map(([name, repr]) => `(${name}): ${repr.split('\n').join('\n  ')}`);
  const lines = [...extraLines, ...childLines];
  let body = '';
  if (lines.length === 1 && childLines.length === 0) body = extraLines[0]!;
  else if (lines.length > 0) body = `\n  ${lines.join('\n  ')}\n`;
  return `${className}(${body})`;
}

/** A number as Python's `repr(float)` writes it: `1e-05`, `0.1`, `1.0`. @internal */
export function pyFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  // Python switches to scientific notation below 1e-4 and from 1e16 on.
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const fixed = String(value);
  return Number.isInteger(value) ? `${fixed}.0` : fixed;
}

/** A boolean as Python writes it. @internal */
export function pyBool(value: boolean): string {
  return value ? 'True' : 'False';
}

/** A tuple as Python writes it: `(3, 3)`, `(None, 7)`. @internal */
export function pyTuple(values: readonly (number | null)[]): string {
  return `(${values.map((v) => (v === null ? 'None' : String(v))).join(', ')})`;
}

/** An int-or-tuple argument as the user gave it (PyTorch prints pooling sizes unnormalised). @internal */
export function pyIntOrTuple(given: number | readonly (number | null)[]): string {
  return typeof given === 'number' ? String(given) : pyTuple(given);
}
