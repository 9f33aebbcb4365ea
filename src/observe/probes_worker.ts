/// <reference lib="deno.worker" />
/**
 * The probe thread of {@link ProbeServer} (see probes.ts): serves `/healthz`, `/livez`,
 * `/metrics` and the health check node ports from what the main thread told it last.
 *
 * @module
 */

import type { LogFields } from "../log.ts";
import type { SourceHealth } from "../source/source.ts";
import { healthzHandler, metricsHandler, serve } from "./http.ts";
import { FRESH_WAIT_MS, type FromProbes, type ToProbes } from "./probes.ts";
import { type HealthAnswer, ProxyHealth } from "./proxyhealth.ts";
import { ServiceHealthServers } from "./servicehealth.ts";

function post(m: FromProbes): void {
  self.postMessage(m);
}

/** What the probe thread knows and serves. */
class ProbeThread {
  #health: ProxyHealth;
  #timeoutMs: number;
  #source: SourceHealth = { synced: false, lastContact: 0 };
  /** When the main thread last said it is alive (this thread's clock). */
  #lastBeat = Date.now();
  #metrics = { text: "", contentType: "text/plain; version=0.0.4; charset=utf-8" };
  #asked = new Map<number, () => void>();
  #nextAsk = 1;
  #servers: Deno.HttpServer[] = [];
  #checks: ServiceHealthServers;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#health = new ProxyHealth(timeoutMs, { source: () => this.#source });
    const log = (msg: string, fields?: LogFields) =>
      post({ type: "log", level: "error", msg, fields: fields ?? {} });
    this.#checks = new ServiceHealthServers({
      logger: { error: log },
      proxyHealthy: () => this.#healthy(Date.now()),
    });
  }

  /** Opens the healthz and metrics listeners; says which ports, or which flag failed. */
  listen(m: ToProbes & { type: "start" }): void {
    const answers = {
      healthz: (now: number) => this.#unlessStalled(now, this.#health.healthz(now)),
      livez: (now: number) => this.#unlessStalled(now, this.#health.livez(now)),
    };
    const metrics = new MetricsRelay(() => this.#askMetrics(), () => this.#metrics.contentType);
    const health = healthzHandler(answers);
    const fresh = async (req: Request) => {
      await this.#ask("beat?"); // the source's health as of now, when the main thread can say
      return health(req);
    };
    const listeners = [
      { flag: "--healthz-bind-address", addr: m.healthz, handler: fresh },
      {
        flag: "--metrics-bind-address",
        addr: m.metrics,
        handler: metricsHandler(metrics, answers),
      },
    ];
    for (const l of listeners) {
      try {
        this.#servers.push(serve(l.addr, l.flag, l.handler));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        post({ type: "failed", flag: l.flag, message });
        return;
      }
    }
    const [h, x] = this.#servers.map((s) => (s.addr as Deno.NetAddr).port);
    post({ type: "listening", healthz: h ?? 0, metrics: x ?? 0 });
  }

  async onMessage(m: ToProbes): Promise<void> {
    switch (m.type) {
      case "start":
        return this.listen(m);
      case "queued":
        return this.#health.queued(m.at);
      case "updated":
        return this.#health.updated(m.at);
      case "eligible":
        return this.#health.setNodeEligible(m.eligible);
      case "drift":
        return this.#health.setDrift(m.drift);
      case "beat":
        this.#lastBeat = Date.now();
        this.#source = m.source;
        return this.#answered(m.id);
      case "metrics":
        this.#metrics = { text: m.text, contentType: m.contentType };
        return this.#answered(m.id);
      case "healthChecks":
        await this.#checks.sync(m.specs);
        return post({ type: "healthChecks", id: m.id });
      case "stop":
        await Promise.all([this.#checks.close(), ...this.#servers.map((s) => s.shutdown())]);
        return post({ type: "stopped" });
    }
  }

  /** The main thread's text, or the last one when it does not answer in time. */
  async #askMetrics(): Promise<string> {
    await this.#ask("metrics?");
    return this.#metrics.text;
  }

  /** Asks the main thread for news; resolves on its answer or after {@link FRESH_WAIT_MS}. */
  async #ask(type: "metrics?" | "beat?"): Promise<void> {
    const id = this.#nextAsk++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#asked.set(id, resolve);
      timer = setTimeout(resolve, FRESH_WAIT_MS);
      post({ type, id });
    });
    clearTimeout(timer);
    this.#asked.delete(id);
  }

  #answered(id: number): void {
    this.#asked.get(id)?.();
    this.#asked.delete(id);
  }

  /** No heartbeat for the health timeout: the main thread is stuck. */
  #stalled(now: number): boolean {
    return now - this.#lastBeat >= this.#timeoutMs;
  }

  #healthy(now: number): boolean {
    return this.#health.healthy(now) && !this.#stalled(now);
  }

  #unlessStalled(now: number, a: HealthAnswer): HealthAnswer {
    return this.#stalled(now) ? { ...a, status: 503 } : a;
  }
}

/** What `/metrics` serves: the main thread's text, asked for at each scrape. */
class MetricsRelay {
  constructor(readonly text: () => Promise<string>, readonly type: () => string) {}
  get contentType(): string {
    return this.type();
  }
}

let thread: ProbeThread | undefined;
self.onmessage = (e: MessageEvent<ToProbes>) => {
  const m = e.data;
  if (m.type === "start") thread = new ProbeThread(m.timeoutMs);
  thread?.onMessage(m).catch((err) =>
    post({ type: "log", level: "error", msg: "probe thread", fields: { err } })
  );
};
