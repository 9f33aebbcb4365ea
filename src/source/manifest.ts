/**
 * The manifest source: Services, EndpointSlices and this node's Node from YAML or JSON files
 * (a file, or a directory read recursively; see `_manifest_files.ts`), kept up to date by
 * watching the files.
 *
 * - Invalid objects are logged with the file, namespace/name, field and value, and skipped;
 *   an object that turns invalid in a later edit keeps its last good version.
 * - Files are parsed in worker threads (`_parse_pool.ts`) within bounds: size
 *   (`maxFileBytes`), nesting depth, alias expansion (`_manifest_bounds.ts`) and time per file.
 *   A file over a bound is an error naming it and the bound. After the first read, a reload
 *   applies the large files (over 64 KiB) parsed within 300 ms after the small ones, and
 *   the others when they are done: a large or slow file never holds up a change to a small one.
 * - A file that no longer parses (half written, a YAML syntax error) keeps its last good
 *   objects, and a warning names the file and the error; a removed file removes its objects.
 *   A file that changes while it is read is read again later.
 * - Changes are debounced (`debounceMs`, default 200 ms; at most 20 times that under constant
 *   churn) and each reload notifies exactly the services whose Service or EndpointSlices changed.
 *   A file renamed into place (how kubectl cp, editors' safe writes and most tools replace a
 *   file) is complete: it is read after 5 ms of quiet instead. A reload after file events looks
 *   only at the files they named; anything else (a directory, a hidden name) lists every file.
 * - When the path itself disappears, the last good state stays and the source polls until it
 *   returns.
 * - Besides file events, the files are listed again every `rescanMs` (default 10 s; only changed
 *   files are read): file systems without inotify events (NFS, FUSE, User-Mode Linux's hostfs)
 *   are still followed, and a lost event is repaired. While events keep up, rescans slow down
 *   (see `#scheduleRescan`).
 *
 * @module
 */

import { resolve } from "node:path";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ClusterSource, ClusterState, SourceChange, SourceHealth } from "./source.ts";
import {
  isRacy,
  type Listing,
  listManifests,
  listManifestsPaced,
  renamedIntoPlace,
  signatureSize,
  statManifests,
} from "./_manifest_files.ts";
import {
  type Definition,
  describeIdentity,
  ManifestView,
  type ViewChange,
} from "./_manifest_view.ts";
import { applyLoad } from "./_manifest_load.ts";
import { IgnoredInputReport } from "./_manifest_ignored.ts";
import { DEFAULT_MAX_FILE_BYTES, type FileResult } from "./_manifest_reader.ts";
import { LARGE_FILE_BYTES, ParsePool } from "./_parse_pool.ts";
import type { ShapeLimits } from "./_manifest_bounds.ts";
import { watchManifests } from "./_manifest_watch.ts";
import { Debounced } from "./_debounce.ts";

/** Options of {@link ManifestSource}. */
export interface ManifestSourceOptions {
  /** A manifest file or a directory of them. */
  path: string;
  /** This node's name: the Node of this name becomes `snapshot().node`. */
  nodeName: string;
  logger: Logger;
  /** Quiet time before a burst of file events is applied (default 200 ms). */
  debounceMs?: number;
  /** Poll period while the path is missing or cannot be watched (default 2 s). */
  retryMs?: number;
  /** Period of the full rescan that backs up file events (default 10 s; 0: none). */
  rescanMs?: number;
  /** Watch for file events (default true); without, only the rescan sees changes. */
  watch?: boolean;
  /** Files larger than this are refused (default 32 MiB). */
  maxFileBytes?: number;
  /** Nesting depth and alias expansion per document (default `SHAPE_LIMITS`). */
  limits?: ShapeLimits;
  /** Time bound of parsing one file of `bytes` bytes, ms (default `parseTimeLimitMs`). */
  parseTimeLimitMs?: (bytes: number) => number;
}

/** Rescans are spaced by at least this many times the duration of the last full listing. */
const RESCAN_COST_FACTOR = 50;
/** The longest wait between rescans while file events keep up. */
const MAX_RESCAN_MS = 120_000;

/** Quiet time after a file renamed into place before it is read (see Debounced's settleMs). */
const SETTLE_MS = 5;

/** How long a reload waits for its large files once the small ones are done, ms. */
const LATE_MS = 300;

/** Cluster state from manifest files, watched for changes. */
export class ManifestSource implements ClusterSource {
  #path: string;
  #nodeName: string;
  #log: Logger;
  #retryMs: number;
  #rescanMs: number;
  #watchEvents: boolean;
  #view = new ManifestView();
  /** Signature of each file at its last read, good or not. */
  #sigs = new Map<string, string>();
  /** Files whose last read failed, with the error. */
  #fileErrors = new Map<string, string>();
  #listeners: ((c: SourceChange) => void)[] = [];
  #synced = false;
  #lastGood = 0;
  #pathError: string | undefined;
  #stopped = false;
  #watch: { close(): Promise<void> } | undefined;
  #reloads: Debounced;
  #retry: ReturnType<typeof setInterval> | undefined;
  #rescan: ReturnType<typeof setTimeout> | undefined;
  /** How long the last full listing took, ms: rescans are spaced by it. */
  #listMs = 0;
  /** The wait before the next rescan: `rescanMs`, doubled while file events keep up. */
  #rescanWait: number;
  /** File events have come: the watcher works on this file system. */
  #eventsSeen = false;
  /** Paths named by file events since the last reload: read even if their signature held. */
  #forced = new Set<string>();
  /**
   * The next reload lists every file: a rescan, a retry, or an event that did not name a plain
   * manifest file. Otherwise a reload looks only at the paths events named.
   */
  #listAll = true;
  #pool: ParsePool;
  /** Files handed to the parser and not applied yet, with the signature they were read at. */
  #inflight = new Map<string, string>();
  /** Results that came after their reload had applied the others. */
  #late: { file: string; sig: string; result: FileResult }[] = [];
  #ignored: IgnoredInputReport;

  constructor(options: ManifestSourceOptions) {
    this.#path = resolve(options.path);
    this.#nodeName = options.nodeName;
    this.#log = options.logger.with({ source: "manifests" });
    this.#ignored = new IgnoredInputReport(this.#log);
    this.#retryMs = options.retryMs ?? 2000;
    this.#rescanMs = options.rescanMs ?? 10_000;
    this.#rescanWait = this.#rescanMs;
    this.#watchEvents = options.watch ?? true;
    this.#pool = new ParsePool({
      maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
      nodeName: this.#nodeName,
      limits: options.limits,
      debug: this.#log.enabled("debug"),
      timeLimitMs: options.parseTimeLimitMs,
    });
    // Now, before a running agent has syncs to make: starting a worker holds this thread a while.
    this.#pool.start();
    const delayMs = options.debounceMs ?? 200;
    this.#reloads = new Debounced({
      delayMs,
      maxDelayMs: delayMs * 20,
      // Files renamed into place by one command come within a few milliseconds of each other:
      // read them in one reload (a sync each would wait out --ipvs-min-sync-period).
      settleMs: Math.min(delayMs, SETTLE_MS),
      run: (firstAt) => this.#reload(false, firstAt),
      onError: (err) => this.#log.error("reloading manifests failed", { err }),
    });
  }

  /** Reads every file once; rejects ("io") when the path cannot be read. Does not notify. */
  async start(): Promise<void> {
    const t0 = performance.now();
    this.#startWatch(); // before the first read, so that no change slips in between
    try {
      await this.#reload(true, Date.now());
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#synced = true;
    // The first listing ran while the parse worker started (in a small VM a second of CPU):
    // rescans are paced by their own listings, not by it.
    this.#listMs = 0;
    this.#scheduleRescan();
    this.#log.info("read manifests", {
      path: this.#path,
      files: this.#sigs.size,
      services: this.#view.services.size,
      endpointSlices: this.#view.endpointSlices.size,
      node: this.#view.node ? this.#nodeName : "none",
      ignored: this.#ignored.count,
      ms: Math.round(performance.now() - t0),
    });
  }

  snapshot(): ClusterState {
    const v = this.#view;
    const state: ClusterState = {
      services: v.services,
      endpointSlices: v.endpointSlices,
      endpointSlicesByService: v.slices.byService,
    };
    if (v.node) state.node = v.node;
    return state;
  }

  onChange(listener: (change: SourceChange) => void): void {
    this.#listeners.push(listener);
  }

  health(): SourceHealth {
    const h: SourceHealth = { synced: this.#synced, lastContact: this.#lastGood };
    const failing = [...this.#fileErrors.values()];
    if (this.#pathError) h.error = this.#pathError;
    else if (failing.length > 0) {
      h.error = failing[0]! + (failing.length > 1 ? ` (and ${failing.length - 1} more files)` : "");
    }
    return h;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#retry);
    this.#retry = undefined;
    clearTimeout(this.#rescan);
    await this.#watch?.close();
    this.#watch = undefined;
    await this.#reloads.stop();
    this.#pool.close();
  }

  #startWatch(): void {
    if (!this.#watchEvents) return;
    this.#watch = watchManifests(this.#path, {
      onEvent: (paths, kind, overflow) => {
        this.#eventsSeen = true;
        if (overflow) this.#listAll = true; // the kernel dropped events: look at everything
        for (const p of paths) this.#forced.add(p);
        // A file renamed into place is complete: no need to wait for quiet, as an editor's
        // in-place writes (or a file moved aside before its replacement is written) need.
        const immediate = kind === "rename" && paths.every(renamedIntoPlace);
        this.#reloads.trigger({ immediate });
      },
      onFail: (err) => {
        if (this.#stopped) return;
        this.#log.warn(`cannot watch ${this.#path}; polling every ${this.#retryMs} ms`, { err });
        this.#startRetry();
      },
    });
  }

  #startRetry(): void {
    this.#retry ??= setInterval(() => this.#triggerFull(), this.#retryMs);
  }

  /**
   * The next rescan: `rescanMs` from now, doubled after each rescan that found nothing file
   * events had not already announced (up to 2 minutes; back to `rescanMs` as soon as one
   * finds something), and never sooner than 50 times the last full listing took: listing
   * 10,000 files takes ~1.4 s in a small VM, and every 10 s that would cost a seventh of a CPU.
   * Without file events (hostfs, NFS) the rescan is how changes are seen: it stays at
   * `rescanMs`.
   */
  #scheduleRescan(): void {
    if (this.#rescanMs <= 0 || this.#stopped) return;
    const wait = Math.max(this.#rescanWait, RESCAN_COST_FACTOR * this.#listMs);
    // The next one is scheduled when this one is done: rescans never pile up on a slow listing.
    this.#rescan = setTimeout(() => void this.#rescanNow(), wait);
  }

  /**
   * A rescan: every file listed while other work goes on (a file event arriving meanwhile is
   * read at once, not after the listing), then a reload of only the files whose signature
   * changed, appeared or went. A listing that fails is a full reload's to report.
   */
  async #rescanNow(): Promise<void> {
    let found = false;
    try {
      let busy = 0;
      let at = performance.now();
      const listing = await listManifestsPaced(this.#path, async () => {
        busy += performance.now() - at;
        await new Promise((r) => setTimeout(r, 0));
        at = performance.now();
      });
      this.#listMs = busy + performance.now() - at;
      if (this.#stopped) return;
      for (const [file, sig] of listing.files) {
        // A file being parsed now is known at the signature it was read at.
        const known = this.#inflight.get(file) ?? this.#sigs.get(file);
        if (known === sig && !isRacy(sig)) continue;
        this.#forced.add(file);
        // A file written in the last 2 s is read again just in case: not a missed event.
        found ||= known?.replace(/:racy$/, "") !== sig.replace(/:racy$/, "");
      }
      for (const file of this.#sigs.keys()) {
        if (listing.files.has(file)) continue;
        this.#forced.add(file);
        found = true;
      }
      if (this.#forced.size > 0) this.#reloads.trigger({ passive: true });
    } catch {
      this.#triggerFull();
    } finally {
      this.#rescanned(found);
      this.#scheduleRescan();
    }
  }

  /** After a rescan: keep the pace while it finds what events missed, else slow down. */
  #rescanned(found: boolean): void {
    if (found) {
      if (this.#eventsSeen) this.#log.debug("a rescan found changes no file event announced");
      this.#rescanWait = this.#rescanMs;
    } else if (this.#eventsSeen) {
      this.#rescanWait = Math.min(this.#rescanWait * 2, Math.max(this.#rescanMs, MAX_RESCAN_MS));
    }
    this.#log.debug("rescanned", { found, nextMs: this.#rescanWait });
  }

  #triggerFull(): void {
    this.#listAll = true;
    this.#reloads.trigger();
  }

  /**
   * Every manifest file with its signature, and the files gone since the last reload: a full
   * listing, or only the paths that events named when that is enough.
   */
  #list(forced: ReadonlySet<string>, listAll: boolean): { listing: Listing; gone: string[] } {
    const scoped = listAll ? undefined : statManifests(this.#path, forced);
    if (scoped) return { listing: { directory: true, files: scoped.files }, gone: scoped.gone };
    const t0 = performance.now();
    const listing = listManifests(this.#path);
    this.#listMs = performance.now() - t0;
    return { listing, gone: [...this.#sigs.keys()].filter((f) => !listing.files.has(f)) };
  }

  async #reload(initial: boolean, seenAt: number): Promise<void> {
    const t0 = performance.now();
    const forced = this.#forced;
    const listAll = initial || this.#listAll || this.#pathError !== undefined;
    this.#forced = new Set();
    this.#listAll = false;
    let listing: Listing;
    let gone: string[];
    try {
      ({ listing, gone } = this.#list(forced, listAll));
    } catch (err) {
      this.#listAll = true;
      if (initial) throw err;
      const msg = describeError(err);
      if (msg !== this.#pathError) this.#log.warn(`${msg}; keeping the last good state`);
      this.#pathError = msg;
      this.#startRetry();
      return;
    }
    if (this.#pathError !== undefined) await this.#recovered();
    const updates = new Map<string, Map<string, Definition> | undefined>();
    for (const file of gone) {
      this.#inflight.delete(file); // a parse still on its way is of a file that is no more
      if (!this.#sigs.has(file)) continue;
      updates.set(file, undefined);
      this.#sigs.delete(file);
      this.#fileErrors.delete(file);
      this.#ignored.file(file, undefined);
    }
    const toRead = [...listing.files].filter(([f, sig]) =>
      (forced.has(f) || this.#sigs.get(f) !== sig || isRacy(sig)) && this.#inflight.get(f) !== sig
    );
    const invalid = { n: 0 };
    const late = this.#late.splice(0);
    for (const l of late) this.#take(l.file, l.sig, l.result, { updates, invalid });
    const results = await this.#parse(toRead, initial);
    for (const [file, sig, result] of results) this.#take(file, sig, result, { updates, invalid });
    const change = this.#view.apply(updates);
    this.#ignored.settle(this.#view, change);
    this.#lastGood = Date.now();
    for (const d of change.duplicates) {
      this.#log.warn(
        `${describeIdentity(d.identity)} is defined in ${d.files.length} files; ` +
          `using ${d.files.at(-1)}, ` +
          `the last in path order (as kubectl apply would)`,
        { files: d.files },
      );
    }
    const read = toRead.length + late.length;
    if (!initial) this.#notify(change, seenAt, { read, invalid: invalid.n, t0 });
  }

  /**
   * Reads and parses `files`; resolves to the results of the small ones (see
   * `LARGE_FILE_BYTES`), and of the large ones done within {@link LATE_MS} after them (all of
   * them on the first read). The other large ones are applied by a later reload, which each of
   * them triggers when done: a large file never holds up a change to a small one.
   */
  async #parse(
    files: [string, string][],
    initial: boolean,
  ): Promise<[string, string, FileResult][]> {
    const done: [string, string, FileResult][] = [];
    let waiting = true;
    const small: Promise<void>[] = [];
    const all: Promise<void>[] = [];
    for (const [file, sig] of files) {
      this.#inflight.set(file, sig);
      const size = signatureSize(sig);
      const result = this.#pool.parse({ file, sig, size }).then((result) => {
        if (waiting) return void done.push([file, sig, result]);
        this.#late.push({ file, sig, result });
        if (!this.#stopped) this.#reloads.trigger({ immediate: true });
      });
      all.push(result);
      if (size <= LARGE_FILE_BYTES) small.push(result);
    }
    await Promise.all(small);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(all),
      ...initial ? [] : [new Promise((r) => timer = setTimeout(r, LATE_MS))],
    ]);
    clearTimeout(timer);
    waiting = false;
    return done;
  }

  /** Takes one file's result into `updates`, unless a newer read of the file is on its way. */
  #take(
    file: string,
    sig: string,
    r: FileResult,
    into: { updates: Map<string, Map<string, Definition> | undefined>; invalid: { n: number } },
  ): void {
    if (this.#inflight.get(file) !== sig) return;
    this.#inflight.delete(file);
    if (r.kind === "removed") {
      if (this.#view.definitions(file)) into.updates.set(file, undefined);
      this.#sigs.delete(file);
      this.#fileErrors.delete(file);
      this.#ignored.file(file, undefined);
    } else if (r.kind === "changed") {
      this.#failed(file, "changed while read");
    } else if (r.kind === "failed") {
      this.#sigs.set(file, sig);
      this.#failed(file, r.error, true);
    } else {
      const loaded = applyLoad(r.load, {
        file,
        logger: this.#log,
        previous: this.#view.definitions(file),
      });
      this.#sigs.set(file, sig);
      this.#fileErrors.delete(file);
      this.#ignored.file(file, loaded.ignored);
      into.updates.set(file, loaded.definitions);
      into.invalid.n += loaded.invalid;
    }
  }

  /** A file that could not be read: "changed while read" is read again, the rest reported. */
  #failed(file: string, msg: string, report = false): void {
    if (!report) {
      this.#forced.add(file);
      this.#reloads.trigger();
      return;
    }
    const kept = this.#view.definitions(file) ? "keeping its last good objects" : "skipping it";
    this.#log.warn(`${msg}; ${kept}`, { file });
    this.#fileErrors.set(file, msg);
  }

  async #recovered(): Promise<void> {
    this.#log.info(`${this.#path} is readable again`);
    this.#pathError = undefined;
    clearInterval(this.#retry);
    this.#retry = undefined;
    // The watched directory may be a new one: watch again, once the old watcher is gone (a
    // new watcher on the same path stays deaf while the old one is being closed).
    await this.#watch?.close();
    if (!this.#stopped) this.#startWatch();
  }

  #notify(c: ViewChange, seenAt: number, o: { read: number; invalid: number; t0: number }): void {
    const changed = c.serviceChanges + c.endpointChanges > 0 || c.node;
    if (!changed && o.read === 0) return; // a rescan that found nothing
    this.#log[changed ? "info" : "debug"](
      changed ? "manifests changed" : "manifests read, nothing changed",
      {
        files: o.read,
        invalid: o.invalid,
        ignored: this.#ignored.count,
        services: c.services.size,
        serviceChanges: c.serviceChanges,
        endpointChanges: c.endpointChanges,
        node: c.node,
        ms: Math.round(performance.now() - o.t0),
      },
    );
    if (!changed) return;
    const change: SourceChange = {
      services: c.services,
      node: c.node,
      all: false,
      serviceChanges: c.serviceChanges,
      endpointChanges: c.endpointChanges,
      seenAt,
    };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#log.error("a manifest change listener failed", { err });
      }
    }
  }
}
