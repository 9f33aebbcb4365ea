/**
 * The HTTP endpoints of `kipvs run`: healthz/livez on `--healthz-bind-address` and metrics on
 * `--metrics-bind-address`.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { ProxyMetrics } from "./metrics.ts";
import type { HealthAnswer, ProxyHealth } from "./proxyhealth.ts";

/** A parsed "host:port" bind address. */
export interface BindAddress {
  hostname: string;
  port: number;
}

/** Parses "0.0.0.0:10256", "[::]:10256" or ":10256" (all addresses). */
export function parseBindAddress(s: string, flag: string): BindAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new KipvsError("usage", `${flag}: "${s}" is not host:port (e.g. 0.0.0.0:10256)`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** Starts a server; a port that cannot be bound is a clear error naming the flag. */
export function serve(
  addr: BindAddress,
  flag: string,
  handler: (req: Request) => Response | Promise<Response>,
): Deno.HttpServer {
  try {
    return Deno.serve({ hostname: addr.hostname, port: addr.port, onListen: () => {} }, handler);
  } catch (err) {
    throw new KipvsError("io", `${flag}: cannot listen on ${addr.hostname}:${addr.port}`, {
      cause: err,
    });
  }
}

const JSON_HEADERS = { "content-type": "application/json", "x-content-type-options": "nosniff" };

function answer(a: HealthAnswer): Response {
  return new Response(JSON.stringify(a.body), { status: a.status, headers: JSON_HEADERS });
}

/** The handler of the healthz server (kube-proxy's paths and JSON). */
export function healthzHandler(
  health: Pick<ProxyHealth, "healthz" | "livez">,
  now = () => Date.now(),
) {
  return (req: Request): Response => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return answer(health.healthz(now()));
    if (path === "/livez") return answer(health.livez(now()));
    return new Response("404 page not found\n", { status: 404 });
  };
}

/** The handler of the metrics server: `/metrics` in Prometheus text format. */
export function metricsHandler(
  metrics: Pick<ProxyMetrics, "text" | "contentType">,
  health?: Pick<ProxyHealth, "healthz">,
) {
  return async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path === "/metrics") {
      return new Response(await metrics.text(), {
        headers: { "content-type": metrics.contentType },
      });
    }
    // kube-proxy also answers healthz on the metrics port.
    if (path === "/healthz" && health) return answer(health.healthz(Date.now()));
    return new Response("404 page not found\n", { status: 404 });
  };
}
