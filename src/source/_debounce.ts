/**
 * A debounced, serialized task: `trigger()` runs it once things have been quiet for `delayMs`
 * (but no later than `maxDelayMs` after the first trigger of a burst), never two runs at once,
 * and a trigger during a run brings one more run after it. A burst made only of triggers marked
 * `immediate` runs after `settleMs` of quiet instead (still one run at a time): those announce
 * something already complete, such as a file renamed into place.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";

/** Options of {@link Debounced}. */
export interface DebouncedOptions {
  delayMs: number;
  /** Bound on the wait under constant triggers. */
  maxDelayMs: number;
  /**
   * Quiet time before a burst of immediate triggers runs (default 0): long enough to gather the
   * rest of a burst that comes together (one `mv` of many files), short next to `delayMs`.
   */
  settleMs?: number;
  /** The task; gets the time (ms since epoch) of the first trigger of its burst. */
  run(firstTriggerAt: number): Promise<void>;
  /** Called with what the task threw. */
  onError(err: unknown): void;
  /** Timers (tests pass a fake clock). */
  clock?: Clock;
}

/** Options of {@link Debounced.trigger}. */
export interface TriggerOptions {
  /** What it announces is complete: wait `settleMs`, not `delayMs`, for quiet (default false). */
  immediate?: boolean;
  /**
   * Join a run already pending (or follow the one in progress) rather than postpone it: for
   * background work such as a periodic rescan, which must not keep a burst from settling.
   */
  passive?: boolean;
}

/** See the module notes. */
export class Debounced {
  #o: DebouncedOptions;
  #clock: Clock;
  #timer: unknown;
  #firstAt: number | undefined;
  /** The burst holds a trigger that was not immediate: it waits for quiet. */
  #slow = false;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DebouncedOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Asks for a run. */
  trigger(options: TriggerOptions = {}): void {
    if (this.#stopped) return;
    if (options.passive && this.#timer !== undefined) return; // that run will do
    if (options.passive && this.#running) {
      this.#again = true;
      this.#slow = true;
      return;
    }
    const now = this.#clock.now();
    this.#firstAt ??= now;
    if (!options.immediate) this.#slow = true;
    this.#clock.clearTimeout(this.#timer);
    const quiet = this.#slow ? this.#o.delayMs : this.#o.settleMs ?? 0;
    const wait = Math.min(quiet, this.#firstAt + this.#o.maxDelayMs - now);
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
    this.#slow = false;
    this.#running = this.#o.run(firstAt)
      .catch((err) => this.#o.onError(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          // Triggers that came during the run keep their kind: quiet is awaited only if one of
          // them asked for it.
          this.trigger({ immediate: true });
        }
      });
  }
}
