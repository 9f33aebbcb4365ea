/**
 * A debounced, serialized task: `trigger()` runs it once things have been quiet for `delayMs`
 * (but no later than `maxDelayMs` after the first trigger of a burst), never two runs at once,
 * and a trigger during a run brings one more run after it.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";

/** Options of {@link Debounced}. */
export interface DebouncedOptions {
  delayMs: number;
  /** Bound on the wait under constant triggers. */
  maxDelayMs: number;
  /** The task; gets the time (ms since epoch) of the first trigger of its burst. */
  run(firstTriggerAt: number): Promise<void>;
  /** Called with what the task threw. */
  onError(err: unknown): void;
  /** Timers (tests pass a fake clock). */
  clock?: Clock;
}

/** See the module notes. */
export class Debounced {
  #o: DebouncedOptions;
  #clock: Clock;
  #timer: unknown;
  #firstAt: number | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DebouncedOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Asks for a run. */
  trigger(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.#firstAt ??= now;
    this.#clock.clearTimeout(this.#timer);
    const wait = Math.min(this.#o.delayMs, this.#firstAt + this.#o.maxDelayMs - now);
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, wait));
  }

  /** Cancels what is pending and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const firstAt = this.#firstAt ?? this.#clock.now();
    this.#firstAt = undefined;
    this.#running = this.#o.run(firstAt)
      .catch((err) => this.#o.onError(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.trigger();
        }
      });
  }
}
