/**
 * One watch of the test API server: newline-delimited JSON events written and flushed one by
 * one, replay from a resourceVersion (or the current objects as ADDED for "" and "0"), selector
 * transitions (an object that stops matching is DELETED for the watcher, one that starts
 * matching is ADDED), bookmarks only when asked, and a clean end at timeoutSeconds.
 *
 * @module
 */

import type { ServerResponse } from "node:http";
import { type ApiStore, apiVersion, type LogEvent, type Obj, type ResourceInfo } from "./_store.ts";

/** How a watch misbehaves, when a fault asks for it. */
export interface WatchMisbehaviour {
  /** Destroy the connection after this many events (0: right after the headers). */
  dropAfterEvents?: number;
  /** Send headers, then nothing, and never end (a connection that died silently). */
  stall?: boolean;
  /** End the watch right after the headers. */
  endAtOnce?: boolean;
}

/** Options of {@link openWatch}. */
export interface OpenWatchOptions {
  store: ApiStore;
  res: ServerResponse;
  resource: ResourceInfo;
  match: (o: Obj) => boolean;
  /** The request's resourceVersion ("" when absent). */
  resourceVersion: string;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  /** End the watch cleanly after this long. */
  timeoutMs: number;
  misbehave?: WatchMisbehaviour;
  /** Called once when the watch is over, however it ended. */
  onEnd: () => void;
}

/** A live watch. */
export interface OpenWatch {
  /** Destroys the connection without ending the response (a dropped connection). */
  drop(): void;
  /** Ends the response cleanly. */
  end(): void;
}

/** What an event log entry looks like to a watcher with a selector; undefined: not its business. */
export function translate(
  e: LogEvent,
  match: (o: Obj) => boolean,
): { type: string; object: Obj } | undefined {
  if (e.type === "DELETED") {
    return match(e.object) ? { type: "DELETED", object: e.object } : undefined;
  }
  const now = match(e.object);
  const before = e.previous !== undefined && match(e.previous);
  if (now) return { type: e.type === "MODIFIED" && !before ? "ADDED" : e.type, object: e.object };
  if (before) return { type: "DELETED", object: e.object };
  return undefined;
}

/** Starts a watch on an accepted request (the caller checked auth and the resourceVersion). */
export function openWatch(o: OpenWatchOptions): OpenWatch {
  const { res, store, resource } = o;
  let ended = false;
  let sent = 0;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let unsubscribe = () => {};
  const finish = () => {
    if (ended) return;
    ended = true;
    timers.forEach((t) => clearInterval(t));
    unsubscribe();
    o.onEnd();
  };
  const drop = () => {
    finish();
    res.socket?.destroy();
  };
  const end = () => {
    if (ended) return;
    finish();
    res.end();
  };
  const write = (type: string, object: unknown) => {
    if (ended) return;
    sent++;
    const dropNow = o.misbehave?.dropAfterEvents !== undefined &&
      sent >= o.misbehave.dropAfterEvents;
    // Drop once the event is on the wire, so that the client really received it.
    res.write(JSON.stringify({ type, object }) + "\n", dropNow ? () => drop() : undefined);
    if (dropNow) finish();
  };
  const bookmark = () =>
    write("BOOKMARK", {
      kind: resource.kind,
      apiVersion: apiVersion(resource),
      metadata: { resourceVersion: String(store.resourceVersion) },
    });

  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache" });
  res.flushHeaders();
  res.on("close", finish);
  if (o.misbehave?.stall) return { drop, end };
  if (o.misbehave?.endAtOnce) {
    end();
    return { drop, end };
  }
  if (o.misbehave?.dropAfterEvents === 0) {
    drop();
    return { drop, end };
  }

  const rv = o.resourceVersion;
  if (rv === "" || rv === "0") {
    const current = store.objects(resource.plural).filter(o.match)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    for (const obj of current) write("ADDED", obj);
  } else {
    let past: LogEvent[];
    try {
      past = store.eventsSince(resource.plural, Number(rv));
    } catch (err) {
      // Too old: one ERROR event with a 410 Status, then the end of the watch.
      write("ERROR", {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: (err as Error).message,
        reason: "Expired",
        code: 410,
      });
      end();
      return { drop, end };
    }
    for (const e of past) {
      const t = translate(e, o.match);
      if (t) write(t.type, t.object);
    }
  }
  if (ended) return { drop, end };
  unsubscribe = store.subscribe((e) => {
    if (e.plural !== resource.plural) return;
    const t = translate(e, o.match);
    if (t) write(t.type, t.object);
  });
  if (o.bookmarks) timers.push(setInterval(bookmark, o.bookmarkIntervalMs));
  timers.push(setTimeout(() => {
    // Like the real server, a last bookmark just before the timeout lets the client resume late.
    if (o.bookmarks) bookmark();
    end();
  }, o.timeoutMs));
  return { drop, end };
}
