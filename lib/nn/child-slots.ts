/**
 * The child slots of one {@link Module}: its registered children by attribute name, in registration order,
 * and the attribute accessors that make `module.fc = …` replace the registered child (PyTorch's
 * `__setattr__`). A slot may be empty (null: torchvision's `downsample = None`).
 *
 * Assignments reach the slots two ways: through the accessor, checked at once, and through a plain
 * property that a class field defined over the accessor, taken up by {@link ChildSlots.sync} at the
 * module's next use. Every reader of the children therefore syncs first.
 * @internal
 * @module
 */
import { InvalidArgumentError, invalidArgument } from '../errors.js';
import type { Module } from './module.js';

/** The registered children of one module and their attribute accessors. @internal */
export class ChildSlots {
  private readonly slots = new Map<string, Module | null>();
  /** The getter of each child's accessor, to tell it from a plain property defined over it. */
  private readonly accessors = new Map<string, () => Module | null>();

  /**
   * @param owner the module whose attributes the accessors are.
   * @param isModule tells a Module from anything else (passed in: this file imports Module only as a type).
   * @param onChange called when a slot takes a new module or null, so that compiled forms are not reused.
   */
  constructor(
    private readonly owner: Module,
    private readonly isModule: (value: unknown) => value is Module,
    private readonly onChange: () => void,
  ) {}

  /** True when `name` is a slot, empty or not (without syncing: for name checks). */
  has(name: string): boolean {
    return this.slots.has(name);
  }

  /** The slot `name`: its module, null when empty, undefined when there is no such slot. Call {@link sync} first. */
  get(name: string): Module | null | undefined {
    return this.slots.get(name);
  }

  /** The slot names, in registration order. */
  names(): string[] {
    return [...this.slots.keys()];
  }

  /**
   * Registers (or replaces) the child `name`. The first registration of a name makes `owner[name]` the
   * accessor of the slot; a name that is already another attribute of the owner is refused.
   * @throws InvalidArgumentError for a name taken by a method or other attribute, a value that is not a
   *   Module or null, or a module that contains the owner.
   */
  register(name: string, module: Module | null): void {
    this.sync();
    if (!this.slots.has(name)) {
      const existing: unknown = (this.owner as unknown as Record<string, unknown>)[name];
      // PyTorch's add_module refuses a name that is already an attribute; a declared field not yet assigned is not one.
      if (name in this.owner && existing !== undefined && existing !== module) {
        throw new InvalidArgumentError(`${this.owner.constructor.name}: attribute "${name}" already exists (a method or property of that name); choose another child name`);
      }
      this.assign(name, module);
      this.installAccessor(name);
    } else {
      this.assign(name, module);
    }
  }

  /** Makes `owner[name]` the accessor of slot `name` (configurable, so that a class field may still define itself over it). */
  private installAccessor(name: string): void {
    const get = (): Module | null => this.slots.get(name) ?? null;
    this.accessors.set(name, get);
    Object.defineProperty(this.owner, name, { enumerable: true, configurable: true, get, set: (value: unknown) => this.assign(name, value) });
  }

  /**
   * Brings the slots up to date with what the accessors could not see: a class field (`fc = …` or a
   * subclass's `fc: Linear`) defines a plain property over the accessor, which later assignments write
   * without re-registering, and `delete module.fc` removes the accessor. A plain property holding a Module
   * or null is registered (checked as an assignment), one holding undefined leaves the slot as it is, and a
   * deleted attribute empties the slot (PyTorch's `del`); then the accessor is put back.
   */
  sync(): void {
    for (const [name, get] of this.accessors) {
      const own = Object.getOwnPropertyDescriptor(this.owner, name);
      if (own?.get === get) continue;
      if (own === undefined) this.assign(name, null);
      else if ('value' in own && own.value !== undefined) this.assign(name, own.value);
      this.installAccessor(name);
    }
  }

  /**
   * Sets slot `name` (without syncing): a new module or null calls `onChange`.
   * @throws InvalidArgumentError for a value that is not a Module or null, or a module that contains the owner.
   */
  assign(name: string, value: unknown): void {
    const owner = this.owner.constructor.name;
    if (value !== null && !this.isModule(value)) {
      throw invalidArgument(`a Module or null (null removes the child; new Identity() passes the input through)`, `${owner}.${name}`, value);
    }
    if (this.slots.has(name) && this.slots.get(name) === value) return;
    if (value !== null && value.modules().includes(this.owner)) {
      throw new InvalidArgumentError(`${owner}.${name}: the ${value.constructor.name} assigned contains this ${owner}, which would make the module tree a cycle`);
    }
    this.slots.set(name, value);
    this.onChange();
  }

  /** The registered children, synced, in registration order, without the empty (null) slots. */
  *present(): Generator<[string, Module]> {
    this.sync();
    for (const [name, m] of this.slots) if (m !== null) yield [name, m];
  }

  /** The name of the first slot holding `child` (for null, the first empty slot), synced. */
  nameOf(child: Module | null): string | undefined {
    this.sync();
    for (const [name, m] of this.slots) if (m === child) return name;
    return undefined;
  }
}
