/**
 * Reading one manifest file's bytes, bounded in size, in the parse worker (see
 * `_parse_worker.ts`): the main thread never reads a manifest. Reads are synchronous: for
 * 10,000 small files much faster than asynchronous ones, and in the worker they hold up nothing.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { signature } from "./_manifest_files.ts";
import type { FileLoad } from "./_manifest_load.ts";

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

/**
 * A file's bytes, at most `max` of them; refused when larger, without reading it whole.
 * `sig` is the file's signature when it was listed: a file that changed since is "changed".
 */
export function readBounded(file: string, sig: string, max: number): Uint8Array | FileResult {
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
