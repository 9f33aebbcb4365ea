/**
 * Watching the manifest path with `Deno.watchFs` (inotify). A directory is watched recursively;
 * a single file through its directory (and the directory of the file a symlink points to), so
 * that editors that replace the file, and Kubernetes' ConfigMap updates that swap a symlink,
 * are seen. The events say which files to look at again (and whether they are complete: a file
 * renamed into place is); the source's periodic rescan, which lists every file and compares
 * signatures, repairs any event that was lost.
 *
 * @module
 */

import { dirname } from "node:path";

/** What the watcher reports. */
export interface WatchHandlers {
  /**
   * Something changed; `paths` as the kernel named them, `kind` as Deno names the event;
   * `overflow` when the kernel dropped events (its queue was full): any file may have changed.
   */
  onEvent(paths: string[], kind: Deno.FsEvent["kind"], overflow: boolean): void;
  /** Watching failed or stopped on its own: the caller must poll. */
  onFail(err: unknown): void;
}

/** Starts watching `path`; `close()` stops and waits for the watcher to finish. */
export function watchManifests(path: string, h: WatchHandlers): { close(): Promise<void> } {
  let watcher: Deno.FsWatcher;
  try {
    if (Deno.statSync(path).isDirectory) {
      watcher = Deno.watchFs(path, { recursive: true });
    } else {
      const dirs = new Set([dirname(path), dirname(Deno.realPathSync(path))]);
      watcher = Deno.watchFs([...dirs], { recursive: false });
    }
  } catch (err) {
    queueMicrotask(() => h.onFail(err));
    return { close: () => Promise.resolve() };
  }
  let closed = false;
  const loop = (async () => {
    try {
      for await (const ev of watcher) {
        if (ev.kind === "access") continue; // our own reads
        h.onEvent(ev.paths, ev.kind, ev.flag === "rescan");
      }
      if (!closed) h.onFail(new Error("the file watcher stopped"));
    } catch (err) {
      if (!closed) h.onFail(err);
    }
  })();
  return {
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
      await loop;
    },
  };
}
