/**
 * The models a server serves, by name and version: each slot exists from `createServer` on (so a request
 * for a model that is still loading gets 503, not 404) and holds its {@link ServedModel} and batcher once
 * loaded.
 * @module
 */
import { notFound, unavailable, type HttpError } from './http-error.js';
import type { ResolvedModelOptions } from './types.js';
import type { ServedModel } from './served-model.js';
import type { ModelBatcher } from './model-batcher.js';

/** One configured model and, once it has loaded, what serves it. */
export interface ModelSlot {
  readonly options: ResolvedModelOptions;
  /** Set when the model has loaded, compiled and warmed up; null while loading (and after a failed load). */
  loaded: { model: ServedModel; batcher: ModelBatcher } | null;
}

/** A loaded slot: what a request that passed the readiness check works with. */
export type LoadedSlot = ModelSlot & { loaded: NonNullable<ModelSlot['loaded']> };

/** The 503 a request for a model that is still loading gets (from any thread). */
export function modelLoading(options: Pick<ResolvedModelOptions, 'name' | 'version'>): HttpError {
  return unavailable(`model '${options.name}' version '${options.version}' is not ready (loading)`, 1);
}

/**
 * Orders versions as Triton does ("the highest loaded version" answers unversioned URLs): numerically
 * when both are integers, else as strings.
 */
function compareVersions(a: string, b: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Models by name, then version. */
export class ModelRegistry {
  readonly #byName = new Map<string, ModelSlot[]>();

  constructor(models: readonly ResolvedModelOptions[]) {
    for (const options of models) {
      const versions = this.#byName.get(options.name) ?? [];
      versions.push({ options, loaded: null });
      versions.sort((x, y) => compareVersions(y.options.version, x.options.version));
      this.#byName.set(options.name, versions);
    }
  }

  /** Every slot, in configuration order within each name. */
  get slots(): ModelSlot[] {
    return [...this.#byName.values()].flat();
  }

  /** The versions of `name`, highest first (empty for an unknown name). */
  versions(name: string): string[] {
    return (this.#byName.get(name) ?? []).map((slot) => slot.options.version);
  }

  /** The slot of `name` at `version` (the highest version when undefined); unknown → 404. */
  find(name: string, version: string | undefined): ModelSlot {
    const versions = this.#byName.get(name);
    if (versions === undefined) throw notFound(`unknown model '${name}'`);
    if (version === undefined) return versions[0]!;
    const slot = versions.find((s) => s.options.version === version);
    if (slot === undefined) {
      throw notFound(`unknown version '${version}' of model '${name}' (it has ${versions.map((s) => `'${s.options.version}'`).join(', ')})`);
    }
    return slot;
  }

  /** {@link find}, then 503 unless the model has loaded. */
  findLoaded(name: string, version: string | undefined): LoadedSlot {
    return this.loaded(this.find(name, version));
  }

  /** `slot` once its model has loaded; 503 while it loads. */
  loaded(slot: ModelSlot): LoadedSlot {
    if (slot.loaded === null) throw modelLoading(slot.options);
    return slot as LoadedSlot;
  }
}
