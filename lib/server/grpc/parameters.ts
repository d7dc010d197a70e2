/**
 * gRPC parameters (`map<string, InferParameter>`) in the JSON form of the HTTP protocol, so that one parser
 * (request-parameters.ts) checks both: a `bool_param` is a boolean, `string_param` a string, and the number
 * kinds numbers. A 64-bit integer beyond 2^53 becomes the nearest double, which no integer rule accepts: the
 * parser's 400 names it. A parameter with no value set is `null`, which no rule accepts either.
 * @module
 * @internal
 */
import type { InferParameter } from './messages.js';

/** One parameter's value. */
export function parameterValue(parameter: InferParameter): boolean | number | string | null {
  switch (parameter.parameter_choice) {
    case 'bool_param': return parameter.bool_param ?? false;
    case 'string_param': return parameter.string_param ?? '';
    case 'double_param': return parameter.double_param ?? 0;
    case 'int64_param': return Number(parameter.int64_param ?? 0);
    case 'uint64_param': return Number(parameter.uint64_param ?? 0);
    case undefined: return null;
  }
}

/** A parameter map in JSON form (keys as given). */
export function parametersOf(map: Readonly<Record<string, InferParameter>>): Record<string, boolean | number | string | null> {
  const out: Record<string, boolean | number | string | null> = {};
  for (const [name, parameter] of Object.entries(map)) out[name] = parameterValue(parameter);
  return out;
}
