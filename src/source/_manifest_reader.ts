/**
 * Reading manifest files for the source: each file's bytes are read here, bounded in size, and
 * parsed in the parse pool's workers. Reads are synchronous (for 10,000 small files much faster
 * than asynchronous ones) and yield to the event loop every few milliseconds, so that healthz,
 * metrics and syncs go on during a large read.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { signature } from "./_manifest_files.ts";
import type { FileLoad } from "./_manifest_load.ts";
import type { ParsePool } from "./_parse_pool.ts";

/** The default bound of one manifest file's size (`--manifest-max-bytes`). */
export const DEFAULT_MAX_FILE_BYTES = 32 << 20;

/** What became of one file. */
export type FileResult =
  | { kind: "loaded"; load: FileLoad }
  | { kind: "failed"; error: string }
  /** Gone before it could be read. */
  | { kind: "removed" }
  /** Written to while it was read: read it again later. */
  | { kind: "changed" };

/** Options of {@link readFiles}. */
export interface ReadOptions {
  pool: ParsePool;
  /** Files larger than this are refused unread. */
  maxFileBytes: number;
  /** Bytes handed to the pool at most before reading waits for it (default 64 MiB). */
  maxPendingBytes?: number;
}

/** Synchronous work between two yields to the event loop, ms. */
const SLICE_MS = 20;

/**
 * Reads each file (path → signature at listing) and hands it to the pool; resolves, once every
 * file is read, to each file's result to come.
 */
export async function readFiles(
  files: readonly (readonly [string, string])[],
  o: ReadOptions,
): Promise<Map<string, Promise<FileResult>>> {
  const out = new Map<string, Promise<FileResult>>();
  let sliceStart = performance.now();
  for (const [file, sig] of files) {
    if (performance.now() - sliceStart > SLICE_MS) {
      await new Promise((r) => setTimeout(r, 0));
      sliceStart = performance.now();
    }
    await o.pool.below(o.maxPendingBytes ?? 64 << 20);
    const read = readBounded(file, sig, o.maxFileBytes);
    if (!(read instanceof Uint8Array)) {
      out.set(file, Promise.resolve(read));
      continue;
    }
    out.set(
      file,
      o.pool.parse({ file, bytes: read }).then((r) =>
        r.ok ? { kind: "loaded", load: r.load } : { kind: "failed", error: r.error }
      ),
    );
  }
  return out;
}

/** A file's bytes, at most `max` of them; refused when larger, without reading it whole. */
function readBounded(file: string, sig: string, max: number): Uint8Array | FileResult {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "removed" };
    return { kind: "failed", error: `cannot read ${file}: ${describeError(err)}` };
  }
  try {
    const info = f.statSync();
    if (!info.isFile) return readStream(f, file, max); // a pipe: kipvs run --manifests <(...)
    if (info.size > max) return { kind: "failed", error: tooLarge(file, info.size, max) };
    // One byte more than the size: a file that grew since is seen to have grown.
    const buf = new Uint8Array(info.size + 1);
    let got = 0;
    while (got < buf.length) {
      const n = f.readSync(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    if (got > info.size) return { kind: "changed" };
    // Being written while we read: leave it to the next reload, which its events will bring.
    const now = signature(Deno.statSync(file));
    if (now.replace(/:racy$/, "") !== sig.replace(/:racy$/, "")) return { kind: "changed" };
    return buf.subarray(0, got).slice();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "removed" };
    return { kind: "failed", error: `cannot read ${file}: ${describeError(err)}` };
  } finally {
    f.close();
  }
}

/** All of a pipe or device, up to `max` bytes. */
function readStream(f: Deno.FsFile, file: string, max: number): Uint8Array | FileResult {
  const chunks: Uint8Array[] = [];
  let got = 0;
  for (;;) {
    const buf = new Uint8Array(1 << 16);
    const n = f.readSync(buf);
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    got += n;
    if (got > max) return { kind: "failed", error: tooLarge(file, got, max) };
  }
  const out = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function tooLarge(file: string, size: number, max: number): string {
  const mib = (n: number) => `${+(n / (1 << 20)).toFixed(1)} MiB`;
  return `${file} is ${mib(size)}, over the bound of ${mib(max)} per file (--manifest-max-bytes)`;
}
