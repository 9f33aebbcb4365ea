/**
 * The guest side of `deno task bench:ipvs-trash` (bench/ipvs_trash.ts), run in a network
 * namespace of its own with kipvs's permissions:
 *
 *   ipvs_trash_guest.ts SERVICES ROUNDS PER_ROUND replace|add
 *
 * It creates SERVICES virtual servers of one real server each, then makes ROUNDS rounds of
 * PER_ROUND edits through kipvs's own batched netlink path (KernelIpvs.apply). `replace` is
 * what a rolling update does to a Service: the real server of PER_ROUND services is deleted and
 * one with a new address added (the delete first, as a sync applies them). `add` only adds the
 * new real servers (nothing is deleted: the control). Each round prints one line
 * `round=<r> deleted=<real servers deleted so far, this round's included> add_us=<microseconds per add> del_us=<... per delete>`.
 *
 * @module
 */

import { KernelIpvs } from "../src/dataplane/ipvs/kernel.ts";
import type { IpvsOp } from "../src/dataplane/ipvs/types.ts";
import { benchDestination as dest, benchKey as key, benchTable } from "./ipvs_table.ts";
import { tableOps } from "./ipvs_cli.ts";

const [services, rounds, perRound] = Deno.args.slice(0, 3).map(Number) as [number, number, number];
const replace = Deno.args[3] === "replace";

async function timed(ipvs: KernelIpvs, ops: IpvsOp[]): Promise<number> {
  const t = performance.now();
  const results = await ipvs.apply(ops);
  const ms = performance.now() - t;
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) throw new Error(`${failed} of ${ops.length} ops failed`);
  return ms;
}

const ipvs = KernelIpvs.open();
const current = Array.from({ length: services }, (_, i) => i);
await timed(ipvs, tableOps(benchTable(services, 1)));
let next = services;
let deleted = 0;
for (let r = 1; r <= rounds; r++) {
  const dels: IpvsOp[] = [];
  const adds: IpvsOp[] = [];
  for (let j = 0; j < perRound; j++) {
    const i = ((r - 1) * perRound + j) % services;
    if (replace) {
      dels.push({ op: "delete-destination", service: key(i), destination: dest(current[i]!) });
    }
    current[i] = next++;
    adds.push({ op: "add-destination", service: key(i), destination: dest(current[i]!) });
  }
  const del = dels.length ? await timed(ipvs, dels) : 0;
  deleted += dels.length;
  const add = await timed(ipvs, adds);
  console.log(
    `round=${r} deleted=${deleted} add_us=${(add * 1000 / perRound).toFixed(1)} ` +
      `del_us=${(del * 1000 / perRound).toFixed(1)}`,
  );
}
ipvs.close();
