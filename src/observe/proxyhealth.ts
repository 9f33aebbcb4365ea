/**
 * kube-proxy's proxier health: healthy unless a queued change has waited longer than the health
 * timeout (2 x sync period) without a sync completing; `/healthz` also fails while this node is
 * not eligible for traffic (being deleted, or tainted ToBeDeletedByClusterAutoscaler).
 *
 * @module
 */

/** A health answer: HTTP status and kube-proxy's JSON body. */
export interface HealthAnswer {
  status: 200 | 503;
  body: { lastUpdated: string; currentTime: string; nodeEligible?: boolean };
}

/** Tracks sync progress and node eligibility; pure apart from the clock passed in. */
export class ProxyHealth {
  #timeoutMs: number;
  #lastUpdated = 0;
  #oldestQueued: number | undefined;
  #nodeEligible = true;

  /** `timeoutMs`: how long a queued change may wait (kube-proxy: 2 x sync period). */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** A change was queued at `now` (keeps the oldest pending one). */
  queued(now: number): void {
    this.#oldestQueued ??= now;
  }

  /** A sync that covers everything queued so far completed at `now`. */
  updated(now: number): void {
    this.#lastUpdated = now;
    this.#oldestQueued = undefined;
  }

  /** Node deletion / autoscaler taint: not eligible means /healthz answers 503. */
  setNodeEligible(eligible: boolean): void {
    this.#nodeEligible = eligible;
  }

  /** Whether no queued change is overdue. */
  healthy(now: number): boolean {
    return this.#oldestQueued === undefined || now - this.#oldestQueued < this.#timeoutMs;
  }

  /** The `/healthz` answer (includes node eligibility). */
  healthz(now: number): HealthAnswer {
    const ok = this.healthy(now) && this.#nodeEligible;
    return {
      status: ok ? 200 : 503,
      body: { ...this.#times(now), nodeEligible: this.#nodeEligible },
    };
  }

  /** The `/livez` answer (the proxy itself, whatever the node's state). */
  livez(now: number): HealthAnswer {
    return { status: this.healthy(now) ? 200 : 503, body: this.#times(now) };
  }

  #times(now: number) {
    return {
      lastUpdated: new Date(this.#lastUpdated).toISOString(),
      currentTime: new Date(now).toISOString(),
    };
  }
}
