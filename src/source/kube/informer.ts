/**
 * An informer: keeps a local copy of one collection (list, then watch) and reports each change.
 *
 * - Lists page by page (`limit`/`continue`) and replaces the copy only once the last page is in:
 *   nobody ever sees a half-listed collection. As client-go's reflector does, the first list
 *   asks for resourceVersion "0" (served from the API server's cache, which spares etcd when a
 *   DaemonSet starts on every node at once), a relist after 410 Gone for the latest version,
 *   and a continue token that expires mid-list (410) is answered by listing everything again
 *   in one request.
 * - Watches from the list's resourceVersion with bookmarks, and resumes from the last
 *   resourceVersion seen (event or bookmark) when the server ends the watch (timeoutSeconds) or
 *   the connection drops; relists on 410 Gone (HTTP 410 or an ERROR event with code 410).
 * - Waits with exponential backoff and jitter after errors, exactly Retry-After when the server
 *   gives one (429), and restarts a watch that stays silent past its deadline (a connection that
 *   died without closing).
 * - On failure the copy stays exactly as it was; {@link Informer.health} says since when the
 *   server has not been heard from and why.
 *
 * @module
 */

import { describeError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { apiError, apiStatusOf, isGone } from "./api_error.ts";
import { linkedAbort } from "./abort.ts";
import { Backoff, type BackoffOptions, sleep } from "./backoff.ts";
import type { KubeClient, RawObject, SelectorOptions, WatchEvent } from "./client.ts";
import type { ResourceType } from "./resources.ts";

/** One change to the local copy. */
export type Delta =
  /** Added or changed; `previousVersion`: the resourceVersion it replaces, when it did. */
  | { type: "upsert"; key: string; object: RawObject; previousVersion?: string }
  /** Gone; `object`: its last state when a DELETED event said so (a relist only knows the key). */
  | { type: "delete"; key: string; object?: RawObject };

/** Changes applied together: one watch event, or the difference a (re)list made. */
export interface DeltaBatch {
  /** The changes, in the order they were applied. */
  deltas: Delta[];
  /** The batch comes from a list that replaced the whole copy. */
  relist: boolean;
}

/** Options of {@link Informer}. */
export interface InformerOptions {
  /** The client to list and watch with. */
  client: KubeClient;
  /** The collection to follow. */
  resource: ResourceType;
  /** Label and field selectors of the list and the watches. */
  selector?: SelectorOptions;
  /** Where retries, relists and restarts are logged. */
  log: Logger;
  /** Called after each change to the copy, in order. */
  onDeltas: (batch: DeltaBatch) => void;
  /** Objects per list page (default 500; 0 lists everything at once). */
  pageSize?: number;
  /** timeoutSeconds of each watch (default random in [300, 600), like client-go). */
  watchTimeoutSeconds?: () => number;
  /** Restart a watch that delivered nothing for this long, ms (default {@link watchSilenceMs}). */
  watchSilenceMs?: number;
  /** A watch that ends cleanly sooner than this with no event counts as a failure (1 s). */
  minWatchMs?: number;
  /** Delays between failed attempts. */
  backoff?: BackoffOptions;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Health of one informer. */
export interface InformerHealth {
  /** The first list completed. */
  synced: boolean;
  /** ms since epoch the server was last heard from; now while a watch is open. */
  lastContact: number;
  /** The last error, while failing. */
  error?: string;
}

/** Counters for metrics and tests. */
export interface InformerStats {
  /** Complete lists (every page). */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Relists caused by 410 Gone. */
  relists: number;
  /** Failed requests and broken watches. */
  errors: number;
  /** ADDED, MODIFIED and DELETED events applied. */
  events: number;
}

type WatchEnd = "closed" | "gone";

/** Keeps a local copy of one collection in step with the API server. */
export class Informer {
  #o: InformerOptions;
  #now: () => number;
  #backoff: Backoff;
  #stop = new AbortController();
  /**
   * Key → resourceVersion of every object held: what a relist compares with and what it deletes.
   * The objects themselves are the caller's (validated, compact): keeping the raw ones here too
   * doubled the memory of a 50,000-Service cluster.
   */
  #store = new Map<string, string>();
  #rv = "";
  #synced = false;
  #syncedWaiters: ((ok: boolean) => void)[] = [];
  #lastContact = 0;
  #watching = false;
  #error?: string;
  #loop?: Promise<void>;
  #stats: InformerStats = { lists: 0, watches: 0, relists: 0, errors: 0, events: 0 };

  /** Builds an informer; {@link Informer.start} starts it. */
  constructor(options: InformerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#backoff = new Backoff(options.backoff);
  }

  /** Starts listing and watching (once). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves true after the first complete list, false if stopped before. */
  synced(): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#stop.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  /** Whether the first list completed. */
  get hasSynced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion of every object of the local copy, keyed by "namespace/name". */
  get store(): ReadonlyMap<string, string> {
    return this.#store;
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string {
    return this.#rv;
  }

  /** Counters since start. */
  get stats(): Readonly<InformerStats> {
    return this.#stats;
  }

  /** How fresh the copy is. */
  health(): InformerHealth {
    return {
      synced: this.#synced,
      lastContact: this.#watching ? this.#now() : this.#lastContact,
      ...(this.#error === undefined ? {} : { error: this.#error }),
    };
  }

  /** Stops the loop and waits for it; the copy stays. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const w of this.#syncedWaiters.splice(0)) w(false);
    await this.#loop;
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    let needList = true;
    // Events applied when the last list completed, counting those of watches that broke later.
    let eventsAtList = 0;
    while (!stop.aborted) {
      try {
        if (needList) {
          await this.#list(this.#synced ? "latest" : "cached");
          needList = false;
          eventsAtList = this.#stats.events;
          this.#backoff.reset();
        }
        const end = await this.#watch();
        if (end === "gone") {
          this.#stats.relists++;
          needList = true;
          this.#o.log.info("resourceVersion too old; listing again", {
            resource: this.#o.resource.plural,
            resourceVersion: this.#rv,
          });
          // A server that answers 410 right after a list would make us spin: back off then.
          if (this.#stats.events === eventsAtList) await sleep(this.#backoff.next(), stop);
        }
      } catch (err) {
        if (stop.aborted) break;
        this.#stats.errors++;
        this.#error = describeError(err);
        const wait = this.#delayFor(err);
        this.#o.log.warn("API request failed; retrying", {
          resource: this.#o.resource.plural,
          retryInMs: wait,
          err,
        });
        await sleep(wait, stop);
      }
    }
  }

  #delayFor(err: unknown): number {
    const { retryAfterSeconds } = apiStatusOf(err);
    const backoff = this.#backoff.next();
    if (retryAfterSeconds === undefined) return backoff;
    // Honour the server's Retry-After, spread by up to 10% so that nodes do not come back at once.
    return Math.round(retryAfterSeconds * 1000 * (1 + 0.1 * Math.random()));
  }

  /** Lists every page, then replaces the copy at once. */
  async #list(from: "cached" | "latest"): Promise<void> {
    const { client, resource, selector } = this.#o;
    const items = new Map<string, RawObject>();
    let limit = this.#o.pageSize ?? 500;
    let cont: string | undefined;
    let rv: string | undefined;
    for (;;) {
      let page;
      try {
        page = await client.list(resource, {
          ...selector,
          limit,
          continue: cont,
          resourceVersion: from === "cached" ? "0" : undefined,
          signal: this.#stop.signal,
        });
      } catch (err) {
        if (cont === undefined || !isGone(err)) throw err;
        this.#o.log.info("continue token expired mid-list; listing again without paging", {
          resource: resource.plural,
        });
        items.clear();
        cont = undefined;
        rv = undefined;
        limit = 0;
        continue;
      }
      this.#contact();
      rv ??= page.resourceVersion;
      for (const item of page.items) items.set(keyOf(item), item);
      cont = page.continue;
      if (cont === undefined) break;
    }
    this.#stats.lists++;
    this.#replace(items, rv);
  }

  #replace(items: Map<string, RawObject>, rv: string): void {
    const deltas: Delta[] = [];
    const store = new Map<string, string>();
    for (const [key, object] of items) {
      const version = object.metadata.resourceVersion ?? "";
      store.set(key, version);
      const previousVersion = this.#store.get(key);
      if (previousVersion !== undefined && previousVersion === version) continue;
      deltas.push(
        previousVersion !== undefined
          ? { type: "upsert", key, object, previousVersion }
          : { type: "upsert", key, object },
      );
    }
    for (const key of this.#store.keys()) {
      if (!items.has(key)) deltas.push({ type: "delete", key });
    }
    items.clear(); // the raw pages go as the caller takes what it keeps
    this.#store = store;
    this.#rv = rv;
    this.#error = undefined;
    this.#o.onDeltas({ deltas, relist: true });
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncedWaiters.splice(0)) w(true);
    }
  }

  /** One watch, until the server ends it, it is gone (410), or it fails (throws). */
  async #watch(): Promise<WatchEnd> {
    const timeoutSeconds = this.#o.watchTimeoutSeconds?.() ??
      Math.floor(300 * (1 + Math.random()));
    const silenceMs = this.#o.watchSilenceMs ?? watchSilenceMs(timeoutSeconds);
    const link = linkedAbort({ parent: this.#stop.signal });
    let silent = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silent = true;
        link.abort();
      }, silenceMs);
    };
    const started = performance.now(); // a duration: the monotonic clock, not the injected one
    this.#stats.watches++;
    try {
      arm();
      const stream = await this.#openWatch(timeoutSeconds, link.signal);
      if (stream === "gone") return "gone";
      const events = await this.#consume(stream, arm);
      if (events === "gone") return "gone";
      if (events === 0 && performance.now() - started < (this.#o.minWatchMs ?? 1000)) {
        throw this.#watchError({ message: "the server ended the watch at once without an event" });
      }
      this.#backoff.reset();
      return "closed";
    } catch (err) {
      if (!silent) throw err;
      throw this.#watchError({
        message: `the watch was silent for ${silenceMs} ms; restarting it`,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      link.abort(); // ends the response body when leaving early (410, an ERROR event)
      link.dispose();
      if (this.#watching) this.#lastContact = this.#now();
      this.#watching = false;
    }
  }

  /** Starts the watch from the last resource version; "gone" when that is too old (410). */
  async #openWatch(
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<AsyncGenerator<WatchEvent> | "gone"> {
    const { client, resource, selector } = this.#o;
    try {
      return await client.watch(resource, {
        ...selector,
        resourceVersion: this.#rv,
        allowWatchBookmarks: true,
        timeoutSeconds,
        signal,
      });
    } catch (err) {
      if (isGone(err)) return "gone";
      throw err;
    }
  }

  /** Applies the watch's events until it ends; how many came, or "gone" on a 410 ERROR event. */
  async #consume(stream: AsyncGenerator<WatchEvent>, arm: () => void): Promise<number | "gone"> {
    this.#contact();
    this.#watching = true;
    this.#error = undefined;
    let events = 0;
    for await (const ev of stream) {
      arm();
      this.#contact();
      events++;
      if (ev.type === "ERROR") {
        if (ev.code === 410) return "gone";
        throw this.#watchError({
          status: ev.code,
          reason: ev.reason,
          message: `ERROR event: ${ev.message}`,
        });
      }
      this.#apply(ev);
    }
    return events;
  }

  #watchError(e: { message: string; status?: number; reason?: string; cause?: unknown }) {
    const { client, resource } = this.#o;
    return apiError({
      server: client.server,
      method: "GET",
      path: `watch ${resource.plural}`,
      ...e,
    });
  }

  #apply(ev: Exclude<WatchEvent, { type: "ERROR" }>): void {
    if (ev.type === "BOOKMARK") {
      this.#rv = ev.resourceVersion;
      return;
    }
    this.#stats.events++;
    const key = keyOf(ev.object);
    const rv = ev.object.metadata.resourceVersion;
    if (rv) this.#rv = rv;
    if (ev.type === "DELETED") {
      this.#store.delete(key);
      this.#o.onDeltas({ deltas: [{ type: "delete", key, object: ev.object }], relist: false });
      return;
    }
    const previousVersion = this.#store.get(key);
    this.#store.set(key, rv ?? "");
    this.#o.onDeltas({
      deltas: [
        previousVersion !== undefined
          ? { type: "upsert", key, object: ev.object, previousVersion }
          : { type: "upsert", key, object: ev.object },
      ],
      relist: false,
    });
  }

  #contact(): void {
    this.#lastContact = this.#now();
  }
}

/** How often kube-apiserver sends a BOOKMARK to a watch that asked for them (its cacher's). */
export const SERVER_BOOKMARK_PERIOD_MS = 60_000;

/**
 * How long a watch may deliver nothing before it is taken for dead and restarted: two and a half
 * bookmark periods (a live watch on a quiet cluster still gets a bookmark a minute), and never
 * past the watch's own timeout plus 30 s. A connection that died without a reset (a partitioned
 * or powered-off control plane) is noticed within 150 s instead of at the end of the watch.
 */
export function watchSilenceMs(timeoutSeconds: number): number {
  return Math.min(timeoutSeconds * 1000 + 30_000, 2.5 * SERVER_BOOKMARK_PERIOD_MS);
}

/** "namespace/name" of a raw object ("name" when cluster-scoped). */
export function keyOf(o: RawObject): string {
  const ns = o.metadata.namespace;
  return ns ? `${ns}/${o.metadata.name}` : o.metadata.name;
}
