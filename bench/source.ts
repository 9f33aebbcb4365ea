/**
 * `deno task bench:source [services] [--rounds R] [--snapshot FILE]`: the API source's side of a
 * cold start on the host, without a kernel. N Services x 10 endpoints as bench:scale generates
 * them are served by the test API server (bench/scale_api.ts, a process of its own as in the
 * guest), listed 500 a page by kipvs's `KubeSource`, then planned whole as a full sync does.
 * Prints, for each step, its time and this process's CPU time (on a shared host the CPU time is
 * the steadier figure), the live heap after it (`gc()`), and how long the server took to answer
 * the pages. The plan is a `PlanMerge` kept alive, as the daemon keeps it between syncs. Passes
 * or fails nothing.
 *
 * `--rounds R` (default 1) lists and plans R times in one process (a fresh source each time);
 * `--snapshot FILE` writes a V8 heap snapshot after the last plan, the source and plan alive.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { KubeClient } from "../src/source/kube/client.ts";
import { KubeSource } from "../src/source/kube/kube_source.ts";
import { validateObject } from "../src/k8s/validate.ts";
import { Logger } from "../src/log.ts";
import { nodeInfo } from "../src/plan/nodeinfo.ts";
import { planService, sliceLookup } from "../src/plan/plan.ts";
import { PlanMerge } from "../src/plan/merge.ts";
import { benchConfig, NODE_IF, NODE_NAME, serviceObject, sliceObject } from "./scale_gen.ts";
import type { HttpRequest, Transport } from "../src/source/kube/transport.ts";

/** CPU time of this process so far (user + system), ms, from /proc/self/stat. */
function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The live heap, MB, after a full collection (with `--v8-flags=--expose-gc`). */
function heapMB(): string {
  (globalThis as { gc?: () => void }).gc?.();
  return (Deno.memoryUsage().heapUsed / 1e6).toFixed(0);
}

/** This process's peak RSS (VmHWM), MB. */
function peakRssMB(): number {
  const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Math.round(Number(m?.[1] ?? NaN) / 1024);
}

/** Fetch that times how long the server takes to answer each list (headers and whole body). */
class TimedTransport implements Transport {
  serverMs = 0;
  bytes = 0;
  async send(req: HttpRequest): Promise<Response> {
    const t = performance.now();
    const init = { method: req.method, headers: req.headers, signal: req.signal };
    const res = await fetch(req.url, init);
    if (req.url.includes("watch=1")) return res;
    const body = new Uint8Array(await res.arrayBuffer());
    this.serverMs += performance.now() - t;
    this.bytes += body.length;
    return new Response(body, { status: res.status, headers: res.headers });
  }
  close(): void {}
}

/** Writes the cluster, starts the API server on it; its URL and how to stop it. */
async function startServer(n: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-source-" });
  const shape = { services: n, endpoints: 10, format: "json" as const };
  const objects: unknown[] = [{
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: NODE_NAME, labels: { "kubernetes.io/hostname": NODE_NAME } },
    status: { addresses: [{ type: "InternalIP", address: NODE_IF.address }] },
  }];
  for (let i = 0; i < n; i++) objects.push(serviceObject(shape, i), sliceObject(shape, i));
  await Deno.writeTextFile(`${dir}/objects.json`, JSON.stringify(objects));
  await Deno.writeTextFile(`${dir}/shape.json`, JSON.stringify({ ...shape, singles: [] }));
  const fifo = `${dir}/ctl`;
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const script = new URL("./scale_api.ts", import.meta.url).pathname;
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--data", dir, "--kubeconfig", `${dir}/kc`, "--control", fifo],
    stdout: "piped",
  }).spawn();
  const ctl = await Deno.open(fifo, { write: true });
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ready (\S+)/.test(text)) text += (await lines.read()).value ?? "";
  return {
    url: /ready (\S+)/.exec(text)![1]!,
    stop: async () => {
      await ctl.write(new TextEncoder().encode("quit\n"));
      ctl.close();
      await server.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** One round: a fresh source lists everything, then a full plan. */
async function round(url: string, r: number, snapshot: string | undefined): Promise<void> {
  const transport = new TimedTransport();
  const connection = {
    server: url,
    caCerts: [],
    insecureSkipTLSVerify: false,
    credentials: { kind: "none" as const },
    origin: "bench",
  };
  const source = new KubeSource({
    client: new KubeClient({ connection, transport }),
    nodeName: NODE_NAME,
    decode: (raw) => validateObject(raw),
    log: new Logger({ level: "error" }),
  });
  const config = benchConfig();
  const interfaces = [
    { name: "lo", address: "127.0.0.1", family: "IPv4" as const },
    { name: NODE_IF.name, address: NODE_IF.address, family: "IPv4" as const },
  ];
  const node = nodeInfo({ config, interfaces });
  const [c0, t0] = [cpuMs(), performance.now()];
  await source.start();
  const [c1, t1] = [cpuMs(), performance.now()];
  const listHeap = heapMB();
  const [c2, t2] = [cpuMs(), performance.now()];
  // A PlanMerge kept alive, as the daemon's proxier keeps it between syncs (plan() drops it).
  const merge = new PlanMerge({ families: config.families });
  const state = source.snapshot();
  const slices = sliceLookup(state);
  for (const [key, svc] of state.services) {
    const p = planService(svc, slices(key), { config, node });
    if (p) merge.set(key, p);
  }
  const desired = merge.state;
  const [c3, t3] = [cpuMs(), performance.now()];
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    `round ${r}: list ${ms(t1 - t0)} (cpu ${ms(c1 - c0)}; the server answered in ` +
      `${ms(transport.serverMs)}, ${
        (transport.bytes / 1e6).toFixed(0)
      } MB), heap ${listHeap} MB; ` +
      `plan ${ms(t3 - t2)} (cpu ${ms(c3 - c2)}; ${desired.virtualServers.size} virtual servers), ` +
      `heap ${heapMB()} MB (the plan of ${merge.size} services alive); peak RSS ${peakRssMB()} MB`,
  );
  if (snapshot) {
    const v8 = await import("node:v8");
    console.log(`heap snapshot: ${v8.writeHeapSnapshot(snapshot)}`);
    // Both alive until the snapshot was taken.
    console.log(source.snapshot().services.size, merge.size);
  }
  await source.stop();
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string", default: "1" }, snapshot: { type: "string" } },
    allowPositionals: true,
  });
  const n = Number(positionals[0] ?? 10000);
  const server = await startServer(n);
  console.log(`bench:source ${n} services x 10 endpoints; heap at start ${heapMB()} MB`);
  try {
    const rounds = Number(values.rounds);
    for (let r = 1; r <= rounds; r++) {
      await round(server.url, r, r === rounds ? values.snapshot : undefined);
    }
  } finally {
    await server.stop();
  }
}
