/**
 * Walks of a module tree, in PyTorch's orders: the descendants with their dotted paths, the tensors they
 * own, the state-dict entries, the descendant at a path. Each walk is given how to read one module (its
 * children, its own tensors), so that the module's registrations stay private to it.
 * @internal
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { StateEntry } from './state-dict.js';

/** How a walk reads one node: its children in registration order, empty slots left out. @internal */
export type ChildrenOf<M> = (m: M) => Iterable<[string, M]>;

/** `prefix.name`, or `name` at the root (prefix ''). */
function joinPath(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/** The entries whose value was not seen before, in order (PyTorch's `remove_duplicate`). @internal */
export function firstOfEach<T>(entries: Iterable<[string, T]>): [string, T][] {
  const seen = new Set<T>();
  const out: [string, T][] = [];
  for (const [name, value] of entries) {
    if (seen.has(value)) continue;
    seen.add(value);
    out.push([name, value]);
  }
  return out;
}

/** `root` (named '') and every descendant with its dotted path, depth first (each node once). @internal */
export function namedDescendants<M>(root: M, childrenOf: ChildrenOf<M>): [string, M][] {
  const seen = new Set<M>();
  const out: [string, M][] = [];
  const visit = (prefix: string, m: M): void => {
    if (seen.has(m)) return;
    seen.add(m);
    out.push([prefix, m]);
    for (const [name, child] of childrenOf(m)) visit(joinPath(prefix, name), child);
  };
  visit('', root);
  return out;
}

/** The tensors the named modules own, by dotted name, in the modules' order (each tensor once). @internal */
export function namedTensors<M, T extends Tensor>(modules: Iterable<[string, M]>, ownOf: (m: M) => Iterable<[string, T]>): [string, T][] {
  const all: [string, T][] = [];
  for (const [prefix, m] of modules) for (const [name, t] of ownOf(m)) all.push([joinPath(prefix, name), t]);
  return firstOfEach(all);
}

/** How the state-dict walk reads one module: its own parameters, then its own buffers. @internal */
export interface StateOf<M> {
  readonly children: ChildrenOf<M>;
  readonly ownTensors: (m: M) => Iterable<[string, Tensor]>;
  readonly isOptional: (m: M, name: string) => boolean;
}

/**
 * Every state-dict entry of the tree by dotted key, in PyTorch's order (each module's own tensors, then
 * its children's). A module reached twice appears under each path, as in PyTorch's `state_dict`. @internal
 */
export function stateEntries<M>(root: M, read: StateOf<M>): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  const visit = (prefix: string, m: M): void => {
    for (const [name, tensor] of read.ownTensors(m)) out.set(prefix + name, { tensor, optional: read.isOptional(m, name) });
    for (const [name, child] of read.children(m)) visit(`${prefix}${name}.`, child);
  };
  visit('', root);
  return out;
}

/**
 * The descendant at a dotted path (`'layer1.0'`, non-empty), read slot by slot with `slotOf` (undefined: no
 * such slot; null: an empty one).
 * @throws InvalidArgumentError naming the step that has no such attribute or an empty slot.
 * @internal
 */
export function descendantAt<M extends object>(root: M, target: string, slotOf: (m: M, name: string) => M | null | undefined): M {
  let m = root;
  for (const item of target.split('.')) {
    const next = slotOf(m, item);
    if (next === undefined) {
      throw new InvalidArgumentError(`${m.constructor.name} has no attribute \`${item}\` (looking up "${target}")`);
    }
    if (next === null) {
      throw new InvalidArgumentError(`${m.constructor.name}.${item} is null, not a Module (looking up "${target}")`);
    }
    m = next;
  }
  return m;
}
