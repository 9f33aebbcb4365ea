/**
 * Sharing the event loop with long work. A full sync plans tens of thousands of services and
 * reads as many entries back from the kernel; done in one go it would hold the loop for seconds,
 * and with it the source's watch streams, timers and signal handlers. Such work awaits
 * {@link pace} between its steps: once it has held the loop for a slice, pace lets the loop run
 * (a zero-delay timer: the loop then polls its I/O, which a microtask, `setImmediate` or a
 * MessageChannel message do not make it do) and the work goes on after.
 *
 * A yield costs about a millisecond on a host and 5 ms in the test VM (a timer of at least 1 ms),
 * so slices are not made shorter than they need to be: the health and metrics ports do not
 * depend on them (they are served by a thread of their own, see observe/probes.ts).
 *
 * @module
 */

/** Options of {@link Pacer}. */
export interface PacerOptions {
  /** How long work may hold the event loop before it lets it run, ms. */
  sliceMs: number;
  /** The time, ms (default `performance.now`). */
  now?: () => number;
  /** Lets the loop run (default: a zero-delay timer). */
  yieldLoop?: () => Promise<void>;
}

/** Decides when long work lets the event loop run. */
export class Pacer {
  #sliceMs: number;
  #now: () => number;
  #yield: () => Promise<void>;
  #since: number;
  #yields = 0;

  constructor(options: PacerOptions) {
    this.#sliceMs = options.sliceMs;
    this.#now = options.now ?? (() => performance.now());
    this.#yield = options.yieldLoop ?? (() => new Promise((r) => setTimeout(r, 0)));
    this.#since = this.#now();
  }

  /** How often work let the loop run so far. */
  get yields(): number {
    return this.#yields;
  }

  /** Lets the loop run when the work since the last time took a slice or more. */
  async pause(): Promise<void> {
    if (this.#now() - this.#since < this.#sliceMs) return;
    await this.#yield();
    this.#yields++;
    this.#since = this.#now();
  }
}

/** How long kipvs's own work holds the event loop at most, ms (see {@link pace}). */
export const SLICE_MS = 50;

const shared = new Pacer({ sliceMs: SLICE_MS });

/** Lets the event loop run when the work since the last pause held it for {@link SLICE_MS}. */
export function pace(): Promise<void> {
  return shared.pause();
}

/** How often {@link pace} let the loop run since the process started. */
export function paceYields(): number {
  return shared.yields;
}
