/**
 * `deno task bench:churn [services] [--changes K] [--syncs S] [--cpu-prof FILE]`: what one
 * incremental sync costs on the host, without a kernel. N Services x 10 endpoints as bench:scale
 * generates them (the API source's objects, validated as the informers validate them) are
 * programmed once into the fake dataplane of tests/dataplane (a full sync), then S times K
 * services have one remote endpoint moved, as a churn round of bench:scale does, and the daemon
 * syncs them: source change -> Daemon -> Proxier (plan, merge, reconcilers) -> fakes, with the
 * metrics and health kipvs keeps. Prints the CPU time (user + system, every thread) and wall
 * time per sync and per changed service, medians over the syncs, so that runs at 10,000 and
 * 50,000 services tell work in proportion to the change from work in proportion to the cluster.
 * Passes or fails nothing.
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the churn syncs only (not of the load or the
 * full sync): read it with `deno run -A bench/cpuprof_blocks.ts FILE --min 0`.
 *
 * @module
 */

import { fakeDataplane as newFakes } from "../tests/dataplane/fakes.ts";
import process from "node:process";
import { parseArgs } from "node:util";
import { Session } from "node:inspector";
import { Daemon } from "../src/agent/daemon.ts";
import { Proxier } from "../src/reconcile/proxier.ts";
import { ProxyMetrics } from "../src/observe/metrics.ts";
import { ProxyHealth } from "../src/observe/proxyhealth.ts";
import { Logger } from "../src/log.ts";
import { validateObject } from "../src/k8s/validate.ts";
import type { EndpointSlice, Node, Service } from "../src/k8s/types.ts";
import type { HealthCheckSpec } from "../src/plan/desired.ts";
import { SliceIndex } from "../src/source/_slice_index.ts";
import type { ClusterSource, ClusterState, SourceHealth } from "../src/source/source.ts";
import type { SourceChange } from "../src/source/source.ts";
import {
  benchConfig,
  churnEdits,
  NODE_IF,
  NODE_NAME,
  remoteEndpoint,
  type ScaleShape,
  serviceKey,
  serviceObject,
  sliceObject,
} from "./scale_gen.ts";

/** CPU time of this process so far (user + system, all threads), ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function decoded<T>(raw: unknown): T {
  const r = validateObject(raw);
  if (!r.object) throw new Error(`invalid bench object: ${JSON.stringify(r.issues)}`);
  return r.object as T;
}

/** The API source's view, kept as KubeSource keeps it; the bench announces the changes. */
class BenchSource implements ClusterSource {
  readonly services = new Map<string, Service>();
  readonly slices = new Map<string, EndpointSlice>();
  readonly index = new SliceIndex();
  node: Node | undefined;
  #listeners: ((c: SourceChange) => void)[] = [];

  start(): Promise<void> {
    return Promise.resolve();
  }
  snapshot(): ClusterState {
    return {
      services: this.services,
      endpointSlices: this.slices,
      endpointSlicesByService: this.index.byService,
      node: this.node,
    };
  }
  onChange(listener: (c: SourceChange) => void): void {
    this.#listeners.push(listener);
  }
  health(): SourceHealth {
    return { synced: true, lastContact: Date.now() };
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Takes a slice (new or replaced), as the informer's delta would. */
  putSlice(slice: EndpointSlice): string {
    const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
    const old = this.slices.get(key);
    this.slices.set(key, slice);
    this.index.update(key, old, slice);
    return key;
  }

  /** Announces that the slices of `services` changed. */
  announce(services: Set<string>): void {
    const change: SourceChange = {
      services,
      node: false,
      all: false,
      serviceChanges: 0,
      endpointChanges: services.size,
      seenAt: Date.now(),
    };
    for (const l of this.#listeners) l(change);
  }
}

/** The cluster of bench:scale, validated. */
function load(shape: ScaleShape): BenchSource {
  const source = new BenchSource();
  source.node = decoded<Node>({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: NODE_NAME, labels: { "kubernetes.io/hostname": NODE_NAME } },
    status: { addresses: [{ type: "InternalIP", address: NODE_IF.address }] },
  });
  for (let i = 0; i < shape.services; i++) {
    const svc = decoded<Service>(serviceObject(shape, i));
    source.services.set(`${svc.metadata.namespace}/${svc.metadata.name}`, svc);
    source.putSlice(decoded<EndpointSlice>(sliceObject(shape, i)));
  }
  return source;
}

/** The fakes of tests/dataplane, whose logs of what they were asked are emptied after each sync. */
function fakeDataplane() {
  const dp = newFakes();
  const forget = () => {
    dp.ipvs.log.length = 0;
    dp.ipset.restores.length = 0;
    dp.iptables.restores.length = 0;
  };
  return { dp, forget };
}

/** One sync's figures. */
interface SyncFigures {
  cpuMs: number;
  wallMs: number;
  /** The proxier's own time (SyncReport.ms). */
  proxierMs: number;
  services: number;
}

/** The daemon over the source and the fakes; `synced()` resolves after its next sync. */
function daemonOver(source: BenchSource) {
  // No endpoint has connections here: a moved one is deleted at once, nothing drains.
  const config = { ...benchConfig(), minSyncPeriodMs: 0, syncPeriodMs: 3_600_000 };
  let waiter: (() => void) | undefined;
  const logger = new Logger({
    format: "json",
    sink: (line) => {
      if (line.includes(`"msg":"synced"`)) waiter?.();
      else if (line.includes(`"level":"error"`)) console.error(line);
    },
  });
  const { dp, forget } = fakeDataplane();
  const proxier = new Proxier({ config, dataplane: dp, logger });
  // The probe thread gets the health checks by postMessage: a structured clone of them all.
  const serviceHealth = {
    sync: (specs: readonly HealthCheckSpec[]) => Promise.resolve(void structuredClone(specs)),
  };
  const interfaces = [
    { name: "lo", address: "127.0.0.1", family: "IPv4" as const },
    { name: NODE_IF.name, address: NODE_IF.address, family: "IPv4" as const },
  ];
  const daemon = new Daemon({
    config,
    source,
    proxier,
    logger,
    metrics: new ProxyMetrics({ source: () => source.health() }),
    health: new ProxyHealth(2 * config.syncPeriodMs),
    serviceHealth,
    interfaces: () => interfaces,
  });
  const synced = () =>
    new Promise<void>((resolve) => {
      waiter = () => {
        waiter = undefined;
        // What the daemon does after its log line (drift) ends before the figures are taken.
        setTimeout(resolve, 0);
      };
    });
  return { daemon, synced, forget };
}

/** Moves one remote endpoint of each of `k` services (churn round `round`), then one sync. */
async function churnSync(
  shape: ScaleShape,
  source: BenchSource,
  d: ReturnType<typeof daemonOver>,
  o: { round: number; k: number },
): Promise<SyncFigures> {
  const edits = churnEdits(shape, o.round, (100 * o.k) / shape.services);
  // Decoding is the informer's work, per event whatever the cluster's size: not timed here.
  const slices = edits.map((e) =>
    decoded<EndpointSlice>(
      sliceObject(shape, e.service, { endpoint: remoteEndpoint(shape, e.service), ip: e.ip }),
    )
  );
  const [c0, t0] = [cpuMs(), performance.now()];
  const services = new Set<string>();
  for (const s of slices) {
    source.putSlice(s);
    const { namespace, name } = serviceKey(shape, Number(s.metadata.name.split("-")[1]));
    services.add(`${namespace}/${name}`);
  }
  const done = d.synced();
  source.announce(services);
  await done;
  const [c1, t1] = [cpuMs(), performance.now()];
  d.forget();
  const report = d.daemon.lastReport!;
  return { cpuMs: c1 - c0, wallMs: t1 - t0, proxierMs: report.ms, services: report.services };
}

/** This process's resident set and its peak (VmRSS, VmHWM), MB. */
function rssMB(): { rss: number; peak: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] ?? NaN;

/** Starts a V8 CPU profile of this thread; the returned function stops it and writes `file`. */
async function profile(file: string): Promise<() => Promise<void>> {
  const s = new Session();
  s.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      s.post(method, {}, (err: unknown, r: unknown) => err ? reject(err) : resolve(r))
    );
  await post("Profiler.enable");
  await post("Profiler.start");
  return async () => {
    const r = await post("Profiler.stop") as { profile: unknown };
    await Deno.writeTextFile(file, JSON.stringify(r.profile));
    s.disconnect();
  };
}

function report(n: number, k: number, figures: SyncFigures[]): void {
  const f = (x: number) => x.toFixed(1);
  const cpu = figures.map((x) => x.cpuMs);
  const wall = figures.map((x) => x.wallMs);
  const prox = figures.map((x) => x.proxierMs);
  const per = figures.map((x) => (1000 * x.cpuMs) / Math.max(1, x.services));
  const mean = cpu.reduce((a, b) => a + b, 0) / Math.max(1, cpu.length);
  console.log(
    `${figures.length} syncs of ${k} changed services: CPU per sync median ${f(median(cpu))} ms ` +
      `(p90 ${f(p90(cpu))}, mean ${f(mean)}: garbage collection shows in the mean), wall ` +
      `${f(median(wall))} ms, proxier ${f(median(prox))} ms; CPU per changed service ` +
      `${f(median(per))} us`,
  );
  console.log(
    `churn${n} changes=${k} cpu_per_sync_ms=${f(median(cpu))} ` +
      `cpu_per_service_us=${f(median(per))} cpu_mean_ms=${f(mean)} wall_per_sync_ms=${
        f(median(wall))
      }`,
  );
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      changes: { type: "string" },
      syncs: { type: "string", default: "20" },
      "cpu-prof": { type: "string" },
    },
    allowPositionals: true,
  });
  const n = Number(positionals[0] ?? 10000);
  const k = Number(values.changes ?? Math.max(1, Math.round(n / 100)));
  const shape: ScaleShape = { services: n, endpoints: 10, format: "json" };
  let [c, t] = [cpuMs(), performance.now()];
  const source = load(shape);
  console.log(
    `bench:churn ${n} services x 10 endpoints: loaded in ${(performance.now() - t).toFixed(0)} ms`,
  );
  const d = daemonOver(source);
  [c, t] = [cpuMs(), performance.now()];
  const first = d.synced();
  d.daemon.start();
  await first;
  d.forget();
  console.log(
    `full sync: ${(performance.now() - t).toFixed(0)} ms (cpu ${(cpuMs() - c).toFixed(0)} ms)`,
  );
  const before = rssMB();
  const stop = values["cpu-prof"] ? await profile(values["cpu-prof"]) : undefined;
  const figures: SyncFigures[] = [];
  for (let round = 1; round <= Number(values.syncs); round++) {
    figures.push(await churnSync(shape, source, d, { round, k }));
  }
  await stop?.();
  await d.daemon.stop();
  const after = rssMB();
  console.log(
    `RSS ${before.rss} MB before the churn, ${after.rss} MB after; peak ${after.peak} MB`,
  );
  report(n, k, figures);
}
