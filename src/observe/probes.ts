/**
 * The node agent's HTTP endpoints, served from a thread of their own: `/healthz` and `/livez`
 * on `--healthz-bind-address`, `/metrics` on `--metrics-bind-address`, and the health check
 * node ports of `externalTrafficPolicy: Local` services. Kubelet probes and cloud load balancers
 * give them 1-2 s; a full sync of 10,000 services keeps the main thread busy for seconds (plan,
 * kernel reads and writes, garbage collection), so the answers must not wait for it. The main
 * thread tells the probe thread what they depend on, as it happens: changes queued, syncs done,
 * the node's eligibility, the source's health and a heartbeat every second, the health checks
 * after each sync. `/metrics` asks the main thread for its text, and `/healthz` for the source's
 * health; when no answer comes within {@link FRESH_WAIT_MS}, they answer with the last they got.
 *
 * Why a thread rather than a main thread that yields to its event loop more often: in the test
 * VM a yield costs ~5 ms (a 1 ms timer) and an HTTP answer needs several loop turns, so /healthz
 * waited 300-600 ms at the 99th percentile with the busy thread yielding every 10-40 ms (a
 * third of its time spent yielding), against 45-145 ms from a thread of its own with the main
 * thread never yielding, and 90 ms with the main thread idle (measured 2026-12-05 in one boot,
 * host loaded). As kube-proxy, whose health server is a goroutine apart from its sync loop, the
 * answers describe the main thread's progress without waiting for it: a main thread stuck
 * longer than the health timeout (no heartbeat) fails `/healthz` and `/livez`.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Logger, LogLevel } from "../log.ts";
import type { HealthCheckSpec } from "../plan/desired.ts";
import type { SourceHealth } from "../source/source.ts";
import type { BindAddress } from "./http.ts";
import type { DriftStatus } from "./proxyhealth.ts";

/** How long an answer waits for the main thread's news before it uses the last it got, ms. */
export const FRESH_WAIT_MS = 5;
/** How often the main thread tells the probe thread it is alive (with the source's health), ms. */
export const HEARTBEAT_MS = 1000;

/** Messages from the main thread to the probe thread. */
export type ToProbes =
  | { type: "start"; healthz: BindAddress; metrics: BindAddress; timeoutMs: number }
  | { type: "queued"; at: number }
  | { type: "updated"; at: number }
  | { type: "eligible"; eligible: boolean }
  | { type: "drift"; drift: DriftStatus }
  /** A heartbeat, with the source's health: an answer to the request `id`, or news (id 0). */
  | { type: "beat"; id: number; source: SourceHealth }
  /** The metrics text: an answer to the request `id`, or news after a sync (id 0). */
  | { type: "metrics"; id: number; text: string; contentType: string }
  | { type: "healthChecks"; id: number; specs: HealthCheckSpec[] }
  | { type: "stop" };

/** Messages from the probe thread to the main thread. */
export type FromProbes =
  | { type: "listening"; healthz: number; metrics: number }
  | { type: "failed"; flag: string; message: string }
  | { type: "metrics?"; id: number }
  | { type: "beat?"; id: number }
  | { type: "healthChecks"; id: number }
  | { type: "log"; level: LogLevel; msg: string; fields: Record<string, unknown> }
  | { type: "stopped" };

/** Options of {@link ProbeServer.start}. */
export interface ProbeServerOptions {
  healthz: BindAddress;
  metrics: BindAddress;
  /** How long a queued change may wait for a sync (kube-proxy: 2 x sync period), ms. */
  timeoutMs: number;
  /** The metrics text and its content type, asked for by `/metrics`. */
  metricsText: () => Promise<{ text: string; contentType: string }>;
  /** The source's health, sent with each heartbeat. */
  source: () => SourceHealth;
  logger: Logger;
  /** Heartbeat period, ms (default {@link HEARTBEAT_MS}). */
  heartbeatMs?: number;
}

/**
 * The main thread's handle on the probe thread. It takes what the daemon reports (as
 * `ProxyHealth` and `ServiceHealthServers` do) and passes it on.
 */
export class ProbeServer {
  #w: Worker;
  #o: ProbeServerOptions;
  #beat: ReturnType<typeof setInterval> | undefined;
  #next = 1;
  #pending = new Map<number, () => void>();
  #stopped: (() => void) | undefined;
  #ports: { healthz: number; metrics: number } = { healthz: 0, metrics: 0 };
  /** A `queued` was posted since the last `updated`. */
  #queued = false;

  private constructor(w: Worker, o: ProbeServerOptions) {
    this.#w = w;
    this.#o = o;
  }

  /**
   * Starts the probe thread and its listeners; rejects with an `io` KipvsError naming the flag
   * whose address cannot be bound.
   */
  static async start(o: ProbeServerOptions): Promise<ProbeServer> {
    const w = new Worker(new URL("./probes_worker.ts", import.meta.url), { type: "module" });
    const p = new ProbeServer(w, o);
    try {
      await p.#listen();
    } catch (err) {
      w.terminate();
      throw err;
    }
    p.#heartbeat();
    p.#beat = setInterval(() => p.#heartbeat(), o.heartbeatMs ?? HEARTBEAT_MS);
    return p;
  }

  /** The ports listened on (the bound ones, when port 0 was asked). */
  get ports(): { healthz: number; metrics: number } {
    return { ...this.#ports };
  }

  /**
   * A change was queued at `now` (ms since epoch). Only the first since the last
   * {@link updated} is passed on: the probe thread keeps the oldest (a watch delivering
   * hundreds of events a second would otherwise post as many messages).
   */
  queued(now: number): void {
    if (this.#queued) return;
    this.#queued = true;
    this.#post({ type: "queued", at: now });
  }

  /** A sync covering everything queued so far completed at `now`; the metrics go along. */
  updated(now: number): void {
    this.#queued = false;
    this.#post({ type: "updated", at: now });
    this.#sendMetrics(0);
  }

  /** Whether the node may receive traffic (`/healthz` answers 503 when not). */
  setNodeEligible(eligible: boolean): void {
    this.#post({ type: "eligible", eligible });
  }

  /** A sync repaired drift: `/healthz` shows it. */
  setDrift(drift: DriftStatus): void {
    this.#post({ type: "drift", drift });
  }

  /** Serves these health check node ports (and no others); resolves once they are. */
  sync(specs: readonly HealthCheckSpec[]): Promise<void> {
    const id = this.#next++;
    const done = new Promise<void>((resolve) => this.#pending.set(id, resolve));
    this.#post({ type: "healthChecks", id, specs: [...specs] });
    return done;
  }

  /** Closes every listener and ends the thread. */
  async close(): Promise<void> {
    clearInterval(this.#beat);
    const stopped = new Promise<void>((resolve) => (this.#stopped = resolve));
    this.#post({ type: "stop" });
    await stopped;
    this.#w.terminate();
  }

  #listen(): Promise<void> {
    const { healthz, metrics, timeoutMs } = this.#o;
    return new Promise((resolve, reject) => {
      this.#w.onerror = (e) => {
        e.preventDefault();
        reject(new KipvsError("internal", `the probe thread failed: ${e.message}`));
      };
      this.#w.onmessage = (e: MessageEvent<FromProbes>) => {
        const m = e.data;
        if (m.type === "listening") {
          this.#ports = { healthz: m.healthz, metrics: m.metrics };
          this.#w.onmessage = (e: MessageEvent<FromProbes>) => this.#onMessage(e.data);
          resolve();
        } else if (m.type === "failed") {
          reject(new KipvsError("io", m.message, { details: { flag: m.flag } }));
        } else this.#onMessage(m);
      };
      this.#post({ type: "start", healthz, metrics, timeoutMs });
    });
  }

  #onMessage(m: FromProbes): void {
    if (m.type === "metrics?") this.#sendMetrics(m.id);
    else if (m.type === "beat?") this.#heartbeat(m.id);
    else if (m.type === "log") this.#o.logger[m.level](m.msg, m.fields);
    else if (m.type === "stopped") this.#stopped?.();
    else if (m.type === "healthChecks") {
      this.#pending.get(m.id)?.();
      this.#pending.delete(m.id);
    }
  }

  #sendMetrics(id: number): void {
    this.#o.metricsText().then(
      ({ text, contentType }) => this.#post({ type: "metrics", id, text, contentType }),
      (err) => this.#o.logger.warn("cannot render metrics", { err }),
    );
  }

  #heartbeat(id = 0): void {
    this.#post({ type: "beat", id, source: this.#o.source() });
  }

  #post(m: ToProbes): void {
    this.#w.postMessage(m);
  }
}
