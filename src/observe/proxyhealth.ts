/**
 * kube-proxy's proxier health: healthy unless a queued change has waited longer than the health
 * timeout (2 x sync period) without a sync completing; `/healthz` also fails while this node is
 * not eligible for traffic (being deleted, or tainted ToBeDeletedByClusterAutoscaler).
 *
 * Beside kube-proxy's fields, `/healthz` says how fresh the source's view is (`source`): an API
 * server that cannot be reached does not change the status, as in kube-proxy (the dataplane
 * stays as it was and keeps serving), but the answer shows since when the view is stale and why.
 *
 * @module
 */

import type { SourceHealth } from "../source/source.ts";
import type { DriftEvent } from "../reconcile/drift.ts";
import type { WriteKind } from "../reconcile/reconciler.ts";

/** What `/healthz` says of drift: repairs since the start, by kind, and the last one. */
export interface DriftStatus {
  repairs: Partial<Record<WriteKind, number>>;
  last: DriftEvent;
}

/** How fresh the source's view is, as `/healthz` reports it. */
export interface SourceStatus {
  /** The initial state was read whole. */
  synced: boolean;
  /** Last successful contact (list, watch event, open watch, file read); absent: never. */
  lastContact?: string;
  /** Seconds since `lastContact`, to 0.1 s; absent: never. */
  staleSeconds?: number;
  /** Why the source is failing now, when it is. */
  error?: string;
}

/** kube-proxy's JSON body, with kipvs's `source` beside it on `/healthz`. */
export interface HealthBody {
  lastUpdated: string;
  currentTime: string;
  nodeEligible?: boolean;
  source?: SourceStatus;
  /** Present once a sync repaired drift (someone else changed what kipvs programs). */
  drift?: DriftStatus;
}

/** A health answer: HTTP status and its JSON body. */
export interface HealthAnswer {
  status: 200 | 503;
  body: HealthBody;
}

/** Options of {@link ProxyHealth}. */
export interface ProxyHealthOptions {
  /** The source's health (`ClusterSource.health`), reported by `/healthz`. */
  source?: () => SourceHealth;
}

/** Tracks sync progress and node eligibility; pure apart from the clock passed in. */
export class ProxyHealth {
  #timeoutMs: number;
  #lastUpdated = 0;
  #oldestQueued: number | undefined;
  #nodeEligible = true;
  #source?: () => SourceHealth;
  #drift: DriftStatus | undefined;

  /** `timeoutMs`: how long a queued change may wait (kube-proxy: 2 x sync period). */
  constructor(timeoutMs: number, options: ProxyHealthOptions = {}) {
    this.#timeoutMs = timeoutMs;
    this.#source = options.source;
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

  /** A sync repaired drift: `/healthz` shows it from now on (it does not change the status). */
  setDrift(drift: DriftStatus): void {
    this.#drift = drift;
  }

  /** Whether no queued change is overdue. */
  healthy(now: number): boolean {
    return this.#oldestQueued === undefined || now - this.#oldestQueued < this.#timeoutMs;
  }

  /** The `/healthz` answer (includes node eligibility and the source's freshness). */
  healthz(now: number): HealthAnswer {
    const ok = this.healthy(now) && this.#nodeEligible;
    const body: HealthBody = { ...this.#times(now), nodeEligible: this.#nodeEligible };
    if (this.#source) body.source = sourceStatus(this.#source(), now);
    if (this.#drift) body.drift = this.#drift;
    return { status: ok ? 200 : 503, body };
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

/** The `/healthz` view of a source's health at `now`. */
export function sourceStatus(h: SourceHealth, now: number): SourceStatus {
  const out: SourceStatus = { synced: h.synced };
  if (h.lastContact > 0) {
    out.lastContact = new Date(h.lastContact).toISOString();
    out.staleSeconds = Math.max(0, Math.round((now - h.lastContact) / 100) / 10);
  }
  if (h.error !== undefined) out.error = h.error;
  return out;
}
