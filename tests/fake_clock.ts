/**
 * A manual clock for tests of timing code (src/clock.ts): timers fire only when the test advances
 * time, so the tests do not depend on how busy the machine is.
 *
 * @module
 */

import type { Clock } from "../src/clock.ts";

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** See the module notes. */
export class FakeClock implements Clock {
  t: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;

  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): number {
    this.#timers.set(++this.#id, { at: this.t + ms, fn });
    return this.#id;
  }
  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }
  /** Advances time to `to`, firing due timers in order and letting their work settle. */
  async advance(to: number): Promise<void> {
    for (;;) {
      await flush();
      const next = [...this.#timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > to) break;
      this.#timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = to;
    await flush();
  }
}
