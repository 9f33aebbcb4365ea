/**
 * The API server side of `deno task bench:scale --source api`, run in the guest: the test API
 * server of tests/support (list pages, watches, resourceVersions as kube-apiserver serves them)
 * seeded with the benchmark's cluster, and the benchmark's edits made inside it, as controllers'
 * writes would land: each is one object replaced, one watch event. Edits are asked for on a
 * FIFO, one command a line:
 *
 *   one K            EndpointSlice of the K-th single-change service: one endpoint replaced
 *   churn P S        every second for S seconds, P% of the Services' EndpointSlices changed
 *   compact          the event log dropped (as etcd compaction), to bound the server's memory
 *
 * Each edit prints `@edit <what> <ms since epoch>` on stdout when it was made; `ready <url>`
 * comes first, `done <command>` after each command.
 *
 * usage: scale_api.ts --data DIR --kubeconfig FILE --control FIFO
 *
 * @module
 */

import { parseArgs } from "node:util";
import { TestApiServer } from "../tests/support/apiserver.ts";
import type { Obj } from "../tests/support/_store.ts";
import {
  churnEdits,
  remoteEndpoint,
  type ScaleShape,
  serviceType,
  singleChangeIP,
  sliceObject,
} from "./scale_gen.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    kubeconfig: { type: "string" },
    control: { type: "string" },
  },
});
if (!values.data || !values.kubeconfig || !values.control) {
  console.error("usage: scale_api.ts --data DIR --kubeconfig FILE --control FIFO");
  Deno.exit(2);
}
const dir = values.data;
const shape = JSON.parse(await Deno.readTextFile(`${dir}/shape.json`)) as ScaleShape & {
  /** Services of the single changes, in order. */
  singles: number[];
};
const server = await TestApiServer.start({ hostname: "127.0.0.1", port: 0 });
const PLURALS: Record<string, string> = {
  Service: "services",
  EndpointSlice: "endpointslices",
  Node: "nodes",
};
for (const file of ["objects.json"]) {
  const items = JSON.parse(await Deno.readTextFile(`${dir}/${file}`)) as Obj[];
  for (const o of items) server.apply(PLURALS[o.kind ?? ""]!, o);
}
server.store.compact();
await Deno.writeTextFile(
  values.kubeconfig,
  `apiVersion: v1
kind: Config
current-context: bench
clusters: [{ name: bench, cluster: { server: "${server.url}" } }]
users: [{ name: bench, user: {} }]
contexts: [{ name: bench, context: { cluster: bench, user: bench } }]
`,
);
console.log(`ready ${server.url}`);

let round = 0;

/** Replaces the EndpointSlice of service i, one remote endpoint moved to `ip`. */
function edit(i: number, ip: string): void {
  const slice = sliceObject(shape, i, { endpoint: remoteEndpoint(shape, i), ip });
  server.apply("endpointslices", slice as Obj);
}

/** One churn round: `percent` % of the services' slices replaced (see churnEdits). */
function churnRound(percent: number): number {
  round++;
  const edits = churnEdits(shape, round, percent);
  for (const e of edits) edit(e.service, e.ip);
  return edits.length;
}

async function churn(percent: number, seconds: number): Promise<void> {
  const t0 = Date.now();
  for (let s = 0; s < seconds; s++) {
    const at = t0 + s * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    const n = churnRound(percent);
    console.log(`@edit churn${s + 1}:${n} ${Date.now()}`);
    // Keep the last 100,000 events for resuming watches; drop the rest (the server's memory).
    if (s % 10 === 9) server.store.compact(Math.max(0, server.store.resourceVersion - 100_000));
  }
}

const decoder = new TextDecoder();
const file = await Deno.open(values.control, { read: true });
let buffered = "";
for await (const chunk of file.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    const [cmd, a, b] = line.split(/\s+/);
    if (cmd === "one") {
      const k = Number(a);
      const i = shape.singles[k - 1]!;
      edit(i, singleChangeIP(k));
      console.log(`@edit one${k}:${i}:${serviceType(i)} ${Date.now()}`);
    } else if (cmd === "churn") {
      await churn(Number(a), Number(b));
    } else if (cmd === "compact") {
      server.store.compact();
    } else if (cmd === "quit") {
      await server.close();
      Deno.exit(0);
    }
    console.log(`done ${line}`);
  }
}
