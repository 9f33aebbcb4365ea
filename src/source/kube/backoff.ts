/**
 * Exponential backoff with jitter, and a sleep that a stop can cut short.
 *
 * @module
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay, ms (default 800, like client-go's reflector). */
  initialMs?: number;
  /** Largest delay before jitter, ms (default 30 s). */
  maxMs?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Each delay is stretched by up to this fraction at random (default 1: up to twice). */
  jitter?: number;
  /** Random numbers in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** Delays that grow with each failure until {@link Backoff.reset}. */
export class Backoff {
  #initial: number;
  #max: number;
  #factor: number;
  #jitter: number;
  #random: () => number;
  #failures = 0;

  /** A backoff that has seen no failure yet. */
  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 800;
    this.#max = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 1;
    this.#random = options.random ?? Math.random;
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failure and returns how long to wait before the next attempt, ms. */
  next(): number {
    const base = Math.min(this.#max, this.#initial * this.#factor ** this.#failures);
    this.#failures++;
    return Math.round(base * (1 + this.#jitter * this.#random()));
  }

  /** Starts over after a success. */
  reset(): void {
    this.#failures = 0;
  }
}

/** Waits `ms`, or less when `signal` aborts (resolving, not rejecting). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
