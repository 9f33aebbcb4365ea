/**
 * Health check node ports of `externalTrafficPolicy: Local` services: one listener per port that
 * tells a cloud load balancer whether this node has local endpoints (kube-proxy's JSON body and
 * headers: 200 with the count when there are local endpoints, 503 otherwise).
 *
 * @module
 */

import type { HealthCheckSpec } from "../plan/desired.ts";
import type { Logger } from "../log.ts";

interface Listener {
  server: Deno.HttpServer;
  spec: HealthCheckSpec;
}

/** Options of {@link ServiceHealthServers}. */
export interface ServiceHealthOptions {
  logger: Pick<Logger, "error">;
  /** Address to listen on (default all: "0.0.0.0", which also serves IPv6 on Linux via "::"). */
  hostname?: string;
  /** Whether the proxy itself is healthy (the body's serviceProxyHealthy). */
  proxyHealthy?: () => boolean;
}

/** Keeps one HTTP listener per health check node port, in step with the plan. */
export class ServiceHealthServers {
  #listeners = new Map<number, Listener>();
  #o: ServiceHealthOptions;

  constructor(options: ServiceHealthOptions) {
    this.#o = options;
  }

  /** Opens listeners for new ports, closes removed ones, and updates counts. */
  async sync(specs: readonly HealthCheckSpec[]): Promise<void> {
    const want = new Map(specs.map((s) => [s.nodePort, s]));
    for (const [port, l] of this.#listeners) {
      if (!want.has(port)) {
        this.#listeners.delete(port);
        await l.server.shutdown();
      }
    }
    for (const [port, spec] of want) {
      const l = this.#listeners.get(port);
      if (l) {
        l.spec = spec;
        continue;
      }
      try {
        const entry = { spec } as Listener;
        entry.server = Deno.serve(
          { hostname: this.#o.hostname ?? "::", port, onListen: () => {} },
          () => this.#answer(entry.spec),
        );
        this.#listeners.set(port, entry);
      } catch (err) {
        // One port in use must not cost the other services their health checks.
        this.#o.logger.error("cannot serve health check node port", {
          port,
          service: `${spec.namespace}/${spec.name}`,
          err,
        });
      }
    }
  }

  /** The ports currently served. */
  ports(): number[] {
    return [...this.#listeners.keys()].sort((a, b) => a - b);
  }

  /** Closes every listener. */
  async close(): Promise<void> {
    const all = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(all.map((l) => l.server.shutdown()));
  }

  #answer(spec: HealthCheckSpec): Response {
    const healthy = this.#o.proxyHealthy?.() ?? true;
    const body = {
      service: { namespace: spec.namespace, name: spec.name },
      localEndpoints: spec.localEndpoints,
      serviceProxyHealthy: healthy,
    };
    const ok = spec.localEndpoints > 0 && healthy;
    return new Response(JSON.stringify(body), {
      status: ok ? 200 : 503,
      headers: {
        "content-type": "application/json",
        "x-content-type-options": "nosniff",
        "x-load-balancing-endpoint-weight": String(spec.localEndpoints),
      },
    });
  }
}
