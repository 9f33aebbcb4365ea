/**
 * The sync loop's timing: one sync per `minIntervalMs` on average, with bursts of two back to
 * back (kube-proxy's bounded frequency runner with burstSyncs 2: a change that comes right after
 * a sync is not held back a whole period), at least one full sync per `maxIntervalMs`, one soon
 * after a change, never two at once, and retries with exponential backoff after a failure. What
 * a sync does is the caller's; the runner only decides when.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";

/** What a sync is asked to do. */
export interface SyncRequest {
  /** Compare everything with the kernel (periodic resync, or after a failure). */
  full: boolean;
  /** Attempt number after failures (0 for a first try). */
  retry: number;
}

/** Options of {@link SyncRunner}. */
export interface SyncRunnerOptions {
  /** `--ipvs-min-sync-period`. */
  minIntervalMs: number;
  /** `--ipvs-sync-period`: a full sync at least this often. */
  maxIntervalMs: number;
  /** Runs one sync; throwing makes the runner retry with backoff. */
  sync: (req: SyncRequest) => Promise<void>;
  /** First retry delay after a failure (default: minIntervalMs, at least 100 ms). */
  backoffInitialMs?: number;
  /** Longest retry delay (default: maxIntervalMs). */
  backoffMaxMs?: number;
  /**
   * Syncs that may run back to back before `minIntervalMs` applies (default 2, kube-proxy's
   * burstSyncs); the allowance comes back at one sync per `minIntervalMs`.
   */
  burst?: number;
  clock?: Clock;
}

/** Decides when syncs run. Call {@link SyncRunner.request} on every change. */
export class SyncRunner {
  #o: Required<Omit<SyncRunnerOptions, "clock">>;
  #clock: Clock;
  #timer: unknown;
  #timerAt = Infinity;
  #running: Promise<void> | undefined;
  #lastFull = -Infinity;
  #pending = false;
  #pendingFull = false;
  #retry = 0;
  #retryAt = -Infinity;
  #stopped = true;
  /** Syncs allowed now, as of #tokensAt (a token bucket refilled once per minIntervalMs). */
  #tokens: number;
  #tokensAt = 0;

  constructor(options: SyncRunnerOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#o = {
      minIntervalMs: options.minIntervalMs,
      maxIntervalMs: options.maxIntervalMs,
      sync: options.sync,
      backoffInitialMs: options.backoffInitialMs ?? Math.max(100, options.minIntervalMs),
      backoffMaxMs: options.backoffMaxMs ?? options.maxIntervalMs,
      burst: Math.max(1, options.burst ?? 2),
    };
    this.#tokens = this.#o.burst;
  }

  /** Starts the loop with a full sync right away. */
  start(): void {
    this.#stopped = false;
    this.request({ full: true });
  }

  /** Asks for a sync soon (a full one when `full`). Coalesces with pending requests. */
  request(opts: { full?: boolean } = {}): void {
    this.#pending = true;
    if (opts.full) this.#pendingFull = true;
    this.#schedule();
  }

  /** Whether a requested sync has not run yet. */
  get pending(): boolean {
    return this.#pending;
  }

  /** Stops scheduling and waits for a sync in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    await this.#running;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #schedule(): void {
    if (this.#stopped || this.#running) return;
    const now = this.#clock.now();
    // A failed full sync leaves #lastFull behind: the period's deadline waits for the backoff too.
    let at = Math.max(this.#lastFull + this.#o.maxIntervalMs, this.#retryAt);
    if (this.#pending) at = Math.min(at, Math.max(this.#nextTokenAt(now), this.#retryAt));
    at = Math.max(at, now);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fire();
    }, at - now);
  }

  #tokensNow(now: number): number {
    const min = this.#o.minIntervalMs;
    if (min <= 0) return this.#o.burst;
    return Math.min(this.#o.burst, this.#tokens + (now - this.#tokensAt) / min);
  }

  /** When the next sync is allowed. */
  #nextTokenAt(now: number): number {
    const tokens = this.#tokensNow(now);
    return tokens >= 1 ? now : now + Math.ceil((1 - tokens) * this.#o.minIntervalMs);
  }

  #fire(): void {
    if (this.#stopped || this.#running) return;
    const now = this.#clock.now();
    const full = this.#pendingFull || now >= this.#lastFull + this.#o.maxIntervalMs ||
      this.#retry > 0;
    const req: SyncRequest = { full, retry: this.#retry };
    this.#pending = false;
    this.#pendingFull = false;
    this.#tokens = Math.max(0, this.#tokensNow(now) - 1);
    this.#tokensAt = now;
    this.#running = (async () => {
      try {
        await this.#o.sync(req);
        this.#retry = 0;
        this.#retryAt = -Infinity;
        if (full) this.#lastFull = now;
      } catch {
        // The sync reported its own failure; retry as a full sync after a backoff.
        this.#retry++;
        const delay = Math.min(
          this.#o.backoffMaxMs,
          this.#o.backoffInitialMs * 2 ** (this.#retry - 1),
        );
        this.#retryAt = this.#clock.now() + delay;
        this.#pending = true;
        this.#pendingFull = true;
      } finally {
        this.#running = undefined;
        this.#schedule();
      }
    })();
  }
}
