/**
 * The `parameters` maps of a request, its inputs and its outputs (protocol §6.3): only the names this
 * server acts on are accepted, each with its type, so a misspelt or unsupported parameter is a 400 that
 * names it rather than a silently ignored wish.
 * @module
 */
import { badRequest } from './http-error.js';
import { describeValue } from '../describe-value.js';

/** The type a known parameter must have. */
export type ParameterRule = 'boolean' | 'string' | 'non-negative integer' | 'positive integer';

/**
 * The parameters of `what`, checked against `rules` (name → type). Absent or `null`: none. Any name
 * not in `rules`, or a value of the wrong type, is a 400.
 */
export function readParameters(value: unknown, rules: Readonly<Record<string, ParameterRule>>, what: string): Record<string, boolean | number | string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(`'parameters' of ${what} must be a JSON object, got ${describeValue(value)}`);
  const read: Record<string, boolean | number | string> = {};
  for (const [name, parameter] of Object.entries(value as Record<string, unknown>)) {
    const rule = Object.hasOwn(rules, name) ? rules[name] : undefined;
    if (rule === undefined) {
      const known = Object.keys(rules).join(', ');
      throw badRequest(`unsupported parameter ${describeValue(name)} in ${what} (supported here: ${known})`);
    }
    if (!fits(parameter, rule)) throw badRequest(`parameter '${name}' of ${what} must be a ${rule}, got ${describeValue(parameter)}`);
    read[name] = parameter as boolean | number | string;
  }
  return read;
}

function fits(value: unknown, rule: ParameterRule): boolean {
  if (rule === 'boolean') return typeof value === 'boolean';
  if (rule === 'string') return typeof value === 'string';
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return false;
  return rule === 'positive integer' ? value >= 1 : value >= 0;
}

/** The classification extension's `classification: N` asks for the top N of `classes`: 1 ≤ N ≤ classes. */
export function classificationParameter(topN: number, classes: number, what: string): void {
  if (topN > classes) throw badRequest(`parameter 'classification' of ${what} asks for the top ${topN} but it has ${classes} classes`);
}
