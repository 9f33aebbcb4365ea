/**
 * The data of `deno task bench:scale --source api`: the cluster as the API server's objects
 * (Services, EndpointSlices and this node's Node), the single changes' services, and the IPVS
 * tables kipvs must hold before and after every edit, planned on the host by kipvs's own plan.
 *
 * @module
 */

import {
  baselineInputs,
  churnEdits,
  manifestText,
  NODE_IF,
  NODE_NAME,
  planTexts,
  remoteEndpoint,
  type ScaleShape,
  serviceObject,
  serviceType,
  singleChangeIP,
  sliceObject,
} from "./scale_gen.ts";

/** Options of {@link writeApiData}. */
export interface ApiDataOptions {
  dir: string;
  shape: ScaleShape;
  /** Single changes. */
  changes: number;
  /** Seconds of churn (one round of `percent` % per second). */
  churnSeconds: number;
  percent: number;
}

/** What the report needs besides the files. */
export interface ApiDataSummary {
  virtualServers: number;
  realServers: number;
  ipsetLines: number;
  addresses: number;
  byType: Record<string, number>;
  churnServices: number;
}

/** The services of the single changes: ClusterIP ones spread over the range. */
function singles(shape: ScaleShape, changes: number): number[] {
  const out: number[] = [];
  for (let c = 1; c <= changes; c++) {
    let i = Math.floor((c * shape.services) / (changes + 1));
    while (serviceType(i) !== "ClusterIP") i++;
    out.push(i);
  }
  return out;
}

/** Writes shape.json, objects.json, expected-initial.rules and expected-final.rules. */
export async function writeApiData(o: ApiDataOptions): Promise<ApiDataSummary> {
  const shape: ScaleShape = { ...o.shape, format: "json" };
  const single = singles(shape, o.changes);
  await Deno.writeTextFile(`${o.dir}/shape.json`, JSON.stringify({ ...shape, singles: single }));
  const objects: unknown[] = [{
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: NODE_NAME, labels: { "kubernetes.io/hostname": NODE_NAME } },
    status: { addresses: [{ type: "InternalIP", address: NODE_IF.address }] },
  }];
  const byType: Record<string, number> = {};
  for (let i = 0; i < shape.services; i++) {
    objects.push(serviceObject(shape, i), sliceObject(shape, i));
    byType[serviceType(i)] = (byType[serviceType(i)] ?? 0) + 1;
  }
  await Deno.writeTextFile(`${o.dir}/objects.json`, JSON.stringify(objects));
  const texts = new Map<string, string>();
  for (let i = 0; i < shape.services; i++) texts.set(`svc-${i}`, manifestText(shape, i));
  const initial = baselineInputs(planTexts(texts));
  await Deno.writeTextFile(`${o.dir}/expected-initial.rules`, initial.ipvsadmRules);
  // The edits in the order the API server makes them; each replaces the service's slice whole.
  single.forEach((i, k) => {
    const edit = { endpoint: remoteEndpoint(shape, i), ip: singleChangeIP(k + 1) };
    texts.set(`svc-${i}`, manifestText(shape, i, edit));
  });
  let churned = 0;
  for (let round = 1; round <= o.churnSeconds; round++) {
    const edits = churnEdits(shape, round, o.percent);
    churned = edits.length;
    for (const e of edits) {
      const edit = { endpoint: remoteEndpoint(shape, e.service), ip: e.ip };
      texts.set(`svc-${e.service}`, manifestText(shape, e.service, edit));
    }
  }
  const final = baselineInputs(planTexts(texts));
  await Deno.writeTextFile(`${o.dir}/expected-final.rules`, final.ipvsadmRules);
  return { ...initial.counts, byType, churnServices: churned };
}
