/**
 * The registered memory request bodies are read into: `bodyArenaBytes` split into one SharedArrayBuffer
 * arena per thread that reads bodies (each thread's {@link BodyPool} lends blocks of its own), every arena
 * registered with the engine for the models' device (`registerHostMemory`: page-locked on a GPU, so runs DMA
 * straight from the body; on the CPU the engine then reads it in place instead of copying it). The main
 * thread registers and owns them all: an HTTP thread gets its arena's SharedArrayBuffer (shared, not
 * copied) and never touches the engine.
 *
 * When registration fails (no GPU after all, the driver refuses), the arenas still serve, unregistered: the
 * engine copies their bytes once as it copies any array, and the server says so once in its log.
 * @module
 */
import { registerHostMemory, type HostMemoryRegistration, type HostMemoryTarget } from '../runtime/host-memory.js';
import { arenaAlignment } from './body-arena.js';

/** The logger the arenas report to (pino's shape). */
export interface ArenaLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** The body arenas of a server; see the module's notes. */
export class BodyArenas {
  /** One arena per thread that reads bodies; empty when `bodyArenaBytes` is 0. */
  readonly arenas: readonly SharedArrayBuffer[];
  /** Page-locked for DMA (a GPU accepted every registration). */
  readonly pinned: boolean;
  #registrations: HostMemoryRegistration[];

  private constructor(arenas: SharedArrayBuffer[], registrations: HostMemoryRegistration[], pinned: boolean) {
    this.arenas = arenas;
    this.#registrations = registrations;
    this.pinned = pinned;
  }

  /**
   * `totalBytes` split into `count` arenas (rounded down to whole blocks; none below a block), each registered
   * with `target`. Never throws for registration: an arena that cannot be registered serves unregistered.
   */
  static create(count: number, totalBytes: number, target: HostMemoryTarget, log: ArenaLogger): BodyArenas {
    const each = Math.floor(totalBytes / count / arenaAlignment) * arenaAlignment;
    if (each === 0) return new BodyArenas([], [], false);
    const arenas = Array.from({ length: count }, () => new SharedArrayBuffer(each));
    const registrations: HostMemoryRegistration[] = [];
    let note = '';
    for (const arena of arenas) {
      try {
        const registration = registerHostMemory(new Uint8Array(arena), target);
        registrations.push(registration);
        if (note === '' && registration.note !== '') note = registration.note;
      } catch (error) {
        note = error instanceof Error ? error.message : String(error);
        break;
      }
    }
    const registered = registrations.length === arenas.length;
    const pinned = registered && registrations.every((r) => r.pinned);
    const fields = { arenas: count, arenaBytes: each, backend: target.backend, device: target.device ?? 0, pinned };
    if (!registered) {
      for (const registration of registrations) registration.dispose();
      registrations.length = 0;
      log.warn({ ...fields, reason: note }, 'request bodies are read into unregistered memory: the engine copies each tensor once');
    } else if (target.backend === 'cuda' && !pinned) {
      log.warn({ ...fields, reason: note }, 'the body arena is not page-locked: the GPU reads request bodies through the driver\'s staging');
    } else {
      log.info(fields, `request bodies are read into ${count} registered arena${count > 1 ? 's' : ''} of ${each} bytes`);
    }
    return new BodyArenas(arenas, registrations, registered && pinned);
  }

  /** Registered with the engine (runs read the arenas in place); false once disposed. */
  get registered(): boolean {
    return this.#registrations.length > 0;
  }

  /** Ends every registration (the arenas serve unregistered from then on); idempotent. */
  dispose(): void {
    for (const registration of this.#registrations.splice(0)) registration.dispose();
  }
}
