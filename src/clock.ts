/**
 * Time as kipvs's timing code sees it, so tests can drive it with a fake clock.
 *
 * @module
 */

/** Timers; tests pass a fake clock. */
export interface Clock {
  now(): number;
  /** Returns a handle for clearTimeout; its type is the clock's business. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
