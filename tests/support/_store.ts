/**
 * The test API server's storage, with etcd's semantics as the API server exposes them: one
 * global resourceVersion that every write increments, an event log that compaction truncates,
 * and list snapshots that continue tokens point into until compaction passes them.
 *
 * @module
 */

import { type Matcher, parseFieldSelector, parseLabelSelector } from "./_selectors.ts";

/** Metadata of a stored object. */
export interface Meta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  [field: string]: unknown;
}

/** A JSON object as stored and served. */
export interface Obj {
  kind?: string;
  apiVersion?: string;
  metadata: Meta;
  [field: string]: unknown;
}

/** A resource type the server serves. */
export interface ResourceInfo {
  plural: string;
  kind: string;
  /** "" for the core group. */
  group: string;
  version: string;
  namespaced: boolean;
}

/** What the test server serves. */
export const RESOURCES: readonly ResourceInfo[] = [
  { plural: "services", kind: "Service", group: "", version: "v1", namespaced: true },
  {
    plural: "endpointslices",
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
    version: "v1",
    namespaced: true,
  },
  { plural: "nodes", kind: "Node", group: "", version: "v1", namespaced: false },
];

/** `apiVersion` of a resource. */
export function apiVersion(r: ResourceInfo): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** One write, as the event log keeps it. */
export interface LogEvent {
  rv: number;
  plural: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Obj;
  /** The object before a MODIFIED (for selector transitions). */
  previous?: Obj;
}

/** A failure the server answers with a Status of this code and reason. */
export class StoreError extends Error {
  override name = "StoreError";
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

/** Options of a list. */
export interface StoreListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  /**
   * "" (latest), "0" (anything: served as the latest here) or a version the result must not
   * be older than (410 when compacted away, 504 when the server has not reached it).
   */
  resourceVersion?: string;
}

/** A page of a list. */
export interface StoreListPage {
  rv: number;
  items: Obj[];
  continue?: string;
  remainingItemCount?: number;
}

/**
 * Each stored object's text as a list item. Stored objects are replaced on writes, never changed,
 * so the text is made once (at the write) and every list after reuses it.
 */
const itemTexts = new WeakMap<Obj, string>();

/** An object as a list carries it: without kind or apiVersion, as from the real server. */
export function listItemText(o: Obj): string {
  let text = itemTexts.get(o);
  if (text === undefined) {
    const { kind: _k, apiVersion: _a, ...rest } = o;
    itemTexts.set(o, text = JSON.stringify(rest));
  }
  return text;
}

/** Labels and fields of an object, for selectors. */
export function selectable(
  o: Obj,
): { labels: Record<string, string>; fields: Record<string, string> } {
  return {
    labels: o.metadata.labels ?? {},
    fields: { "metadata.name": o.metadata.name, "metadata.namespace": o.metadata.namespace ?? "" },
  };
}

/** A matcher over whole objects from a request's selectors (throws SelectorError). */
export function objectMatcher(
  o: { namespace?: string; labelSelector?: string; fieldSelector?: string },
): (obj: Obj) => boolean {
  const labels: Matcher = parseLabelSelector(o.labelSelector ?? "");
  const fields: Matcher = parseFieldSelector(o.fieldSelector ?? "");
  return (obj) => {
    if (o.namespace !== undefined && obj.metadata.namespace !== o.namespace) return false;
    const s = selectable(obj);
    return labels(s.labels) && fields(s.fields);
  };
}

function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** What {@link ApiStore.exportState} saves: JSON, as a restart would find it in etcd. */
export interface StoreState {
  resourceVersion: number;
  uid: number;
  /** Objects by resource plural. */
  objects: Record<string, Obj[]>;
}

/** The objects of a list snapshot that match some selectors, and their indexes in it. */
interface SnapshotMatch {
  key: string;
  items: Obj[];
  at: number[];
}

/** Objects, the event log and list snapshots. */
export class ApiStore {
  #rv = 100;
  #compacted = 100;
  #uid = 0;
  #objects = new Map<string, Map<string, Obj>>(RESOURCES.map((r) => [r.plural, new Map()]));
  #log: LogEvent[] = [];
  /** Sorted snapshots of a collection at a resourceVersion, for continue tokens. */
  #snapshots = new Map<string, Obj[]>();
  /** What of a snapshot matches a list's selectors (see {@link list}), by snapshot and selectors. */
  #matches = new Map<string, SnapshotMatch>();
  #subscribers = new Set<(e: LogEvent) => void>();

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Events at or below this resourceVersion are gone from the log. */
  get compactedRv(): number {
    return this.#compacted;
  }

  /** Resource info by plural; throws 404 for an unknown one. */
  resource(plural: string): ResourceInfo {
    const r = RESOURCES.find((x) => x.plural === plural);
    if (!r) {
      throw new StoreError(404, "NotFound", `the server could not find the requested resource`);
    }
    return r;
  }

  /** Creates an object; 409 AlreadyExists when it exists. */
  create(plural: string, input: Obj): Obj {
    const r = this.resource(plural);
    const obj = this.#normalise(r, input);
    const m = this.#objects.get(plural)!;
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    if (m.has(key)) {
      throw new StoreError(409, "AlreadyExists", `${plural} "${obj.metadata.name}" already exists`);
    }
    obj.metadata.uid = `uid-${++this.#uid}`;
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    return this.#write(r, key, "ADDED", obj);
  }

  /** Replaces an object; 404 when absent, 409 Conflict when a given resourceVersion is stale. */
  update(plural: string, input: Obj): Obj {
    const r = this.resource(plural);
    const obj = this.#normalise(r, input);
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    const old = this.#objects.get(plural)!.get(key);
    if (!old) throw new StoreError(404, "NotFound", `${plural} "${obj.metadata.name}" not found`);
    const rv = input.metadata.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) {
      throw new StoreError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${plural} "${obj.metadata.name}": the object has been ` +
          "modified; please apply your changes to the latest version and try again",
      );
    }
    obj.metadata.uid = old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    return this.#write(r, key, "MODIFIED", obj, old);
  }

  /** Creates or replaces an object. */
  apply(plural: string, input: Obj): Obj {
    const key = keyOf(input.metadata.namespace, input.metadata.name);
    const exists = this.#objects.get(plural)?.has(key);
    // create and update copy the object whole; this copy only drops the resourceVersion.
    const copy = { ...input, metadata: { ...input.metadata } };
    delete copy.metadata.resourceVersion;
    return exists ? this.update(plural, copy) : this.create(plural, copy);
  }

  /** Deletes an object; 404 when absent. */
  delete(plural: string, namespace: string | undefined, name: string): Obj {
    const r = this.resource(plural);
    const key = keyOf(r.namespaced ? namespace : undefined, name);
    const m = this.#objects.get(plural)!;
    const old = m.get(key);
    if (!old) throw new StoreError(404, "NotFound", `${plural} "${name}" not found`);
    m.delete(key);
    const gone = structuredClone(old);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ rv: this.#rv, plural, type: "DELETED", object: gone });
    return gone;
  }

  /** One object, or 404. */
  get(plural: string, namespace: string | undefined, name: string): Obj {
    const r = this.resource(plural);
    const o = this.#objects.get(plural)!.get(keyOf(r.namespaced ? namespace : undefined, name));
    if (!o) throw new StoreError(404, "NotFound", `${plural} "${name}" not found`);
    return o;
  }

  /**
   * A page of a collection, pinned to the first page's snapshot (410 once compacted away). The
   * objects of a snapshot that match a request's selectors are found once per snapshot and
   * selectors, so that each page costs its own objects (filtering the whole collection for each
   * page was the server's main cost in bench:scale at 50,000 objects: 100 pages).
   */
  list(plural: string, o: StoreListOptions): StoreListPage {
    this.resource(plural);
    let rv: number;
    let start = 0;
    if (o.continue) {
      const token = decodeContinue(o.continue);
      if (!this.#snapshots.has(`${plural}@${token.rv}`) || token.rv < this.#compacted) {
        throw new StoreError(
          410,
          "Expired",
          "The provided continue parameter is too old to display a consistent list result. " +
            "You can start a new list without the continue parameter.",
        );
      }
      rv = token.rv;
      start = token.start;
    } else {
      this.#checkListVersion(o.resourceVersion ?? "");
      rv = this.#rv;
      const all = [...this.#objects.get(plural)!.entries()].sort(([a], [b]) => a < b ? -1 : 1)
        .map(([, v]) => v);
      this.#snapshots.set(`${plural}@${rv}`, all);
    }
    const m = this.#matching(plural, rv, o);
    // The first match at or after `start` (an index into the whole snapshot).
    let lo = 0, hi = m.at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m.at[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    const limit = o.limit && o.limit > 0 ? o.limit : Infinity;
    const end = Math.min(m.items.length, lo + limit);
    const items = m.items.slice(lo, end);
    const rest = m.items.length - end;
    if (rest === 0 && !o.continue) {
      // One page was all: nothing will continue from this snapshot.
      this.#snapshots.delete(`${plural}@${rv}`);
      this.#matches.delete(m.key);
    }
    if (rest === 0) return { rv, items };
    return {
      rv,
      items,
      continue: btoa(JSON.stringify({ v: "meta.k8s.io/v1", rv, start: m.at[end - 1]! + 1 })),
      remainingItemCount: rest,
    };
  }

  /** The objects of snapshot `plural@rv` that match `o`'s selectors, with their indexes. */
  #matching(plural: string, rv: number, o: StoreListOptions): SnapshotMatch {
    const key = `${plural}@${rv}?${o.namespace ?? ""}|${o.labelSelector ?? ""}|${
      o.fieldSelector ?? ""
    }`;
    let m = this.#matches.get(key);
    if (!m) {
      const match = objectMatcher(o);
      m = { key, items: [], at: [] };
      const all = this.#snapshots.get(`${plural}@${rv}`)!;
      for (let i = 0; i < all.length; i++) {
        if (match(all[i]!)) {
          m.items.push(all[i]!);
          m.at.push(i);
        }
      }
      this.#matches.set(key, m);
    }
    return m;
  }

  /** A list's resourceVersion: "" and "0" are the latest, others must be in the log's range. */
  #checkListVersion(want: string): void {
    if (want === "" || want === "0") return;
    if (!/^\d+$/.test(want)) {
      throw new StoreError(400, "BadRequest", `invalid resourceVersion "${want}"`);
    }
    if (Number(want) > this.#rv) {
      throw new StoreError(
        504,
        "Timeout",
        `Too large resource version: ${want}, current: ${this.#rv}`,
      );
    }
    if (Number(want) < this.#compacted) {
      throw new StoreError(
        410,
        "Expired",
        `too old resource version: ${want} (${this.#compacted})`,
      );
    }
  }

  /** Events of a collection after `rv`; 410 Expired when the log no longer reaches back. */
  eventsSince(plural: string, rv: number): LogEvent[] {
    if (rv < this.#compacted) {
      throw new StoreError(410, "Expired", `too old resource version: ${rv} (${this.#compacted})`);
    }
    return this.#log.filter((e) => e.plural === plural && e.rv > rv);
  }

  /** Current objects of a collection. */
  objects(plural: string): Obj[] {
    return [...(this.#objects.get(plural)?.values() ?? [])];
  }

  /** Calls `fn` with every write from now on; returns the unsubscribe function. */
  subscribe(fn: (e: LogEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /**
   * Drops the event log up to `upTo` (default: all of it), as etcd compaction does: watches
   * from older resourceVersions get 410, and so do continue tokens of older lists.
   */
  compact(upTo = this.#rv): void {
    this.#compacted = Math.max(this.#compacted, upTo);
    this.#log = this.#log.filter((e) => e.rv > this.#compacted);
    for (const k of this.#snapshots.keys()) {
      if (Number(k.split("@")[1]) < this.#compacted) this.#snapshots.delete(k);
    }
    for (const k of this.#matches.keys()) {
      if (Number(k.split("@")[1]!.split("?")[0]) < this.#compacted) this.#matches.delete(k);
    }
  }

  /** What a restart keeps (etcd's part): the objects, the resourceVersion and the uid counter. */
  exportState(): StoreState {
    return {
      resourceVersion: this.#rv,
      uid: this.#uid,
      objects: Object.fromEntries([...this.#objects].map(([p, m]) => [p, [...m.values()]])),
    };
  }

  /**
   * Loads what {@link exportState} saved, as an API server restarting on the same etcd: objects
   * keep their resourceVersions, and the event log starts empty at the saved version (a watch
   * from an older version gets 410, as from a fresh watch cache).
   */
  importState(state: StoreState): void {
    this.#rv = state.resourceVersion;
    this.#compacted = state.resourceVersion;
    this.#uid = state.uid;
    this.#log = [];
    this.#snapshots.clear();
    this.#matches.clear();
    for (const [plural, m] of this.#objects) {
      m.clear();
      for (const o of state.objects[plural] ?? []) {
        m.set(keyOf(o.metadata.namespace, o.metadata.name), o);
      }
    }
  }

  /** Advances the resourceVersion without a write to any collection (another resource's churn). */
  bump(n = 1): void {
    this.#rv += n;
  }

  #normalise(r: ResourceInfo, input: Obj): Obj {
    const { kind: _k, apiVersion: _a, ...rest } = structuredClone(input);
    const obj: Obj = { kind: r.kind, apiVersion: apiVersion(r), ...rest };
    if (typeof obj.metadata?.name !== "string" || obj.metadata.name === "") {
      throw new StoreError(422, "Invalid", `${r.kind} is invalid: metadata.name: Required value`);
    }
    if (r.namespaced) obj.metadata.namespace ??= "default";
    else delete obj.metadata.namespace;
    return obj;
  }

  #write(r: ResourceInfo, key: string, type: "ADDED" | "MODIFIED", obj: Obj, previous?: Obj): Obj {
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#objects.get(r.plural)!.set(key, obj);
    listItemText(obj);
    this.#emit({ rv: this.#rv, plural: r.plural, type, object: obj, previous });
    return obj;
  }

  #emit(e: LogEvent): void {
    this.#log.push(e);
    for (const s of this.#subscribers) s(e);
  }
}

function decodeContinue(token: string): { rv: number; start: number } {
  try {
    const t = JSON.parse(atob(token));
    if (typeof t.rv === "number" && typeof t.start === "number") return t;
  } catch {
    // fall through
  }
  throw new StoreError(400, "BadRequest", `invalid continue token: ${token}`);
}
