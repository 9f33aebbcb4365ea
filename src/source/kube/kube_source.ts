/**
 * {@link ClusterSource} over the Kubernetes API: three informers (Services and EndpointSlices
 * with kube-proxy's label selector, and this node's Node by field selector), objects decoded by
 * an injected validator, and change notifications that name exactly the services touched.
 *
 * Nothing is announced before every initial list is complete; `start()` resolves then, and the
 * proxy reads the whole view with `snapshot()`. Later changes, including the difference a
 * relist made, are announced in batches (events that arrive together are merged). Invalid
 * objects are logged and left out of the view, never fatal. When the API server cannot be
 * reached the view stays as it was and `health()` says since when.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import {
  type EndpointSlice,
  type KubeObject,
  type Node,
  objectKey,
  type Service,
  SERVICE_NAME_LABEL,
} from "../../k8s/types.ts";
import type { Logger } from "../../log.ts";
import type { ClusterSource, ClusterState, SourceChange, SourceHealth } from "../source.ts";
import type { KubeClient } from "./client.ts";
import { type DecodeResult, formatIssues, type ObjectDecoder } from "./decode.ts";
import { compact } from "../_compact.ts";
import { SliceIndex } from "../_slice_index.ts";
import { type DeltaBatch, Informer, type InformerOptions, type InformerStats } from "./informer.ts";
import {
  ENDPOINT_SLICES,
  nodeFieldSelector,
  NODES,
  PROXY_LABEL_SELECTOR,
  type ResourceType,
  SERVICES,
} from "./resources.ts";

/** Informer settings shared by the three informers (tests shorten them). */
export type InformerTuning = Pick<
  InformerOptions,
  "pageSize" | "watchTimeoutSeconds" | "watchSilenceMs" | "minWatchMs" | "backoff"
>;

/** Options of {@link KubeSource}. */
export interface KubeSourceOptions {
  /** The client; the source closes it on stop. */
  client: KubeClient;
  /** This node's name (the Node read, and the one whose zone and addresses matter). */
  nodeName: string;
  /** Validates raw objects (`validateObject` of src/k8s/validate.ts). */
  decode: ObjectDecoder;
  /** Where invalid objects, retries and the initial listing are logged. */
  log: Logger;
  /** Page size, watch timeouts and backoff of the informers. */
  tuning?: InformerTuning;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

interface Pending {
  services: Set<string>;
  node: boolean;
  serviceChanges: number;
  endpointChanges: number;
  seenAt: number;
}

/** The cluster as the Kubernetes API describes it. */
export class KubeSource implements ClusterSource {
  #o: KubeSourceOptions;
  #now: () => number;
  #services = new Map<string, Service>();
  #slices = new Map<string, EndpointSlice>();
  #index = new SliceIndex();
  #node?: Node;
  #informers: { name: string; informer: Informer }[];
  #listeners: ((change: SourceChange) => void)[] = [];
  #pending?: Pending;
  #flushTimer?: ReturnType<typeof setTimeout>;
  #announcing = false;

  /** Builds the source; {@link KubeSource.start} starts it. */
  constructor(options: KubeSourceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const make = (
      resource: ResourceType,
      selector: InformerOptions["selector"],
      apply: (b: DeltaBatch) => void,
    ) =>
      new Informer({
        ...options.tuning,
        client: options.client,
        resource,
        selector,
        log: options.log,
        now: options.now,
        onDeltas: apply,
      });
    this.#informers = [
      {
        name: "services",
        informer: make(
          SERVICES,
          { labelSelector: PROXY_LABEL_SELECTOR },
          (b) => this.#applyServices(b),
        ),
      },
      {
        name: "endpointslices",
        informer: make(
          ENDPOINT_SLICES,
          { labelSelector: PROXY_LABEL_SELECTOR },
          (b) => this.#applySlices(b),
        ),
      },
      {
        name: "node",
        informer: make(
          NODES,
          { fieldSelector: nodeFieldSelector(options.nodeName) },
          (b) => this.#applyNode(b),
        ),
      },
    ];
  }

  /** Starts the informers; resolves once every initial list is complete. */
  async start(): Promise<void> {
    const began = this.#now();
    for (const { informer } of this.#informers) informer.start();
    const ok = await Promise.all(this.#informers.map(({ informer }) => informer.synced()));
    if (ok.includes(false)) {
      throw new KipvsError("kube-api", "stopped before the initial lists completed");
    }
    this.#pending = undefined; // the initial state is read whole, not announced
    this.#announcing = true;
    this.#o.log.info("cluster state listed", {
      server: this.#o.client.server,
      services: this.#services.size,
      endpointSlices: this.#slices.size,
      node: this.#node ? this.#o.nodeName : "absent",
      tookMs: this.#now() - began,
    });
  }

  snapshot(): ClusterState {
    return {
      services: this.#services,
      endpointSlices: this.#slices,
      endpointSlicesByService: this.#index.byService,
      node: this.#node,
    };
  }

  onChange(listener: (change: SourceChange) => void): void {
    this.#listeners.push(listener);
  }

  health(): SourceHealth {
    let synced = true;
    let lastContact = Infinity;
    const errors: string[] = [];
    for (const { name, informer } of this.#informers) {
      const h = informer.health();
      synced &&= h.synced;
      lastContact = Math.min(lastContact, h.lastContact);
      if (h.error) errors.push(`${name}: ${h.error}`);
    }
    return {
      synced,
      lastContact: Number.isFinite(lastContact) ? lastContact : 0,
      ...(errors.length ? { error: errors.join("; ") } : {}),
    };
  }

  /** Counters of each informer, for metrics. */
  stats(): Record<string, Readonly<InformerStats>> {
    return Object.fromEntries(this.#informers.map(({ name, informer }) => [name, informer.stats]));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map(({ informer }) => informer.stop()));
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#o.client.close();
  }

  #applyServices(batch: DeltaBatch): void {
    for (const d of batch.deltas) {
      const had = this.#services.has(d.key);
      const svc = d.type === "upsert" ? this.#decode<Service>(d.object, "Service") : undefined;
      if (svc) this.#services.set(d.key, svc);
      else if (had) this.#services.delete(d.key);
      else continue; // an invalid object that was not in the view: nothing changed
      const p = this.#change();
      p.services.add(d.key);
      p.serviceChanges++;
    }
    this.#schedule();
  }

  #applySlices(batch: DeltaBatch): void {
    for (const d of batch.deltas) {
      const old = this.#slices.get(d.key);
      const slice = d.type === "upsert"
        ? this.#decode<EndpointSlice>(d.object, "EndpointSlice")
        : undefined;
      if (slice) this.#slices.set(d.key, slice);
      else if (old) this.#slices.delete(d.key);
      else continue;
      this.#index.update(d.key, old, slice);
      const p = this.#change();
      p.endpointChanges++;
      // A slice moved between services (its label changed) touches both.
      for (const s of [old, slice]) {
        const name = s?.metadata.labels[SERVICE_NAME_LABEL];
        if (s && name) p.services.add(objectKey({ namespace: s.metadata.namespace, name }));
      }
    }
    this.#schedule();
  }

  #applyNode(batch: DeltaBatch): void {
    for (const d of batch.deltas) {
      if (d.key !== this.#o.nodeName) continue; // the field selector should make this impossible
      const node = d.type === "upsert" ? this.#decode<Node>(d.object, "Node") : undefined;
      if (!node && !this.#node) continue;
      this.#node = node;
      this.#change().node = true;
    }
    this.#schedule();
  }

  #decode<T extends KubeObject>(raw: unknown, kind: T["kind"]): T | undefined {
    const meta = (raw as { metadata?: { namespace?: string; name?: string } }).metadata;
    const name = objectKey({ namespace: meta?.namespace ?? "", name: meta?.name ?? "?" });
    let r: DecodeResult;
    try {
      r = this.#o.decode(raw);
    } catch (err) {
      this.#o.log.warn(`skipping ${kind} ${name}: the validator failed`, { err });
      return undefined;
    }
    if (r.object && r.object.kind === kind) return compact(r.object as T);
    if (r.ignored) {
      this.#o.log.debug(`ignoring ${kind} ${name}`, { reason: formatIssues(r.issues) });
    } else {
      this.#o.log.warn(`skipping invalid ${kind} ${name}`, { issues: formatIssues(r.issues) });
    }
    return undefined;
  }

  #change(): Pending {
    return this.#pending ??= {
      services: new Set(),
      node: false,
      serviceChanges: 0,
      endpointChanges: 0,
      seenAt: this.#now(),
    };
  }

  /** Announces pending changes once the events that arrived together are applied. */
  #schedule(): void {
    if (!this.#announcing || !this.#pending || this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => this.#flush(), 0);
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const p = this.#pending;
    this.#pending = undefined;
    if (!p) return;
    const change: SourceChange = { ...p, all: false };
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#o.log.error("a change listener failed", { err });
      }
    }
  }
}
