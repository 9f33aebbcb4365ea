/**
 * How long a full sync's plan takes (every service planned and merged, no kernel): N services x
 * 10 endpoints as bench:scale generates them, loaded once, then planned 5 times in one process.
 * Prints figures, wall time and the process's CPU time (which a busy host disturbs less);
 * passes or fails nothing. Runs on the host (no guest, no root).
 *
 *   deno run -A bench/plan.ts [services]
 *
 * @module
 */

import { benchConfig, manifestText, NODE_IF, NODE_NAME } from "./scale_gen.ts";
import { loadManifest } from "../src/source/_manifest_load.ts";
import { Logger } from "../src/log.ts";
import { nodeInfo } from "../src/plan/nodeinfo.ts";
import { planService } from "../src/plan/plan.ts";
import { PlanMerge } from "../src/plan/merge.ts";
import type { EndpointSlice, Service } from "../src/k8s/types.ts";
import process from "node:process";

/** CPU time (user and system) since `from`, ms. */
function cpuMs(from: NodeJS.CpuUsage): string {
  const u = process.cpuUsage(from);
  return ((u.user + u.system) / 1000).toFixed(1);
}
const N = Number(Deno.args[0] ?? 10000);
const shape = { services: N, endpoints: 10, format: "yaml" as const };
const services = new Map<string, Service>();
const byService = new Map<string, EndpointSlice[]>();
const logger = new Logger({ level: "error" });
for (let i = 0; i < N; i++) {
  for (
    const d of loadManifest(manifestText(shape, i), `f${i}`, { nodeName: NODE_NAME, logger })
      .definitions.values()
  ) {
    const o = d.object;
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (o.kind === "Service") services.set(key, o);
    else if (o.kind === "EndpointSlice") {
      const svc = `${o.metadata.namespace}/${o.metadata.labels?.["kubernetes.io/service-name"]}`;
      byService.set(svc, [...(byService.get(svc) ?? []), o]);
    }
  }
}
const config = benchConfig();
const node = nodeInfo({
  config,
  interfaces: [{ name: "lo", address: "127.0.0.1", family: "IPv4" }, {
    name: NODE_IF.name,
    address: NODE_IF.address,
    family: "IPv4",
  }],
});
for (let r = 0; r < 5; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const merge = new PlanMerge({ families: config.families });
  for (const [key, svc] of services) {
    merge.set(key, planService(svc, byService.get(key) ?? [], { config, node }));
  }
  const st = merge.state;
  console.log(
    `plan ${N} services: ${(performance.now() - t0).toFixed(1)} ms, cpu ${cpuMs(c0)} ms ` +
      `(${st.virtualServers.size} virtual servers, ${st.addresses.size} addresses)`,
  );
}
