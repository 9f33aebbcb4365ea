/**
 * Finding manifest files: the file the user named, or every `.yaml`, `.yml` and `.json` file
 * under the directory the user named, recursively (like `kubectl apply -R -f`). Names starting
 * with "." are skipped, files and directories alike: editors' swap files, and the `..data`
 * folders through which Kubernetes updates a mounted ConfigMap (its visible files are symlinks
 * into them, and are read once through those links). Symbolic links are followed; a directory
 * reached twice (a link loop) is read once.
 *
 * Each file comes with a signature (inode, size, change and modification times) so that a
 * reload re-reads only the files that changed. The file system is read with synchronous calls:
 * for 10,000 files they take ~40 ms where the asynchronous ones take ~200 ms.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";

/** Extensions read in a directory (a file named directly is read whatever its name). */
export const MANIFEST_EXTENSIONS: readonly string[] = [".yaml", ".yml", ".json"];

/** What a look at the manifest path found. */
export interface Listing {
  /** The path is a directory (false: a single file). */
  directory: boolean;
  /** Path → signature, for every manifest file found. */
  files: Map<string, string>;
}

/**
 * How long after its last modification a file's signature is not trusted. File systems with
 * coarse timestamps (hostfs inside User-Mode Linux keeps whole seconds) let a same-size rewrite
 * within the same second keep the signature, as git's "racy clean" files do; such a file is read
 * again at the next rescan until its modification is older than this.
 */
const RACY_MS = 2_000;

/** The signature of a file: changes whenever its content may have. */
export function signature(info: Deno.FileInfo, now = Date.now()): string {
  const mtime = info.mtime?.getTime();
  const racy = mtime === undefined || now - mtime < RACY_MS ? ":racy" : "";
  return `${info.ino}:${info.size}:${mtime}:${info.ctime?.getTime()}${racy}`;
}

/** The size a signature records, bytes. */
export function signatureSize(sig: string): number {
  return Number(sig.split(":")[1]) || 0;
}

/** Whether a recorded signature may hide a change (see {@link signature}). */
export function isRacy(sig: string): boolean {
  return sig.endsWith(":racy");
}

/** Lists the manifest files at `root`; an "io" KipvsError when `root` cannot be read. */
export function listManifests(root: string): Listing {
  const steps = listSteps(root);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * {@link listManifests} that lets other work run while it stats the files: it awaits `pause()`
 * after every 256 of them. For a periodic rescan of 10,000 files (~1 s in a small VM), which a
 * file event arriving meanwhile must not wait for.
 */
export async function listManifestsPaced(
  root: string,
  pause: () => Promise<void>,
): Promise<Listing> {
  const steps = listSteps(root);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await pause();
  }
}

/** Files stat'ed between two yields of {@link listSteps}. */
const STAT_STEP = 256;

function* listSteps(root: string): Generator<void, Listing, void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch (err) {
    throw new KipvsError("io", `cannot read manifests at ${root}`, {
      cause: err,
      details: { path: root },
    });
  }
  const files = new Map<string, string>();
  if (!info.isDirectory) {
    files.set(root, signature(info));
    return { directory: false, files };
  }
  yield* walk(root, { files, seen: new Set(), top: true, stats: { n: 0 } });
  return { directory: true, files };
}

interface Walk {
  files: Map<string, string>;
  /** Real paths of the directories read (against link loops). */
  seen: Set<string>;
  /** This is the directory the user named: failing to read it is an error. */
  top: boolean;
  /** Files stat'ed so far (shared by the whole walk). */
  stats: { n: number };
}

function* walk(dir: string, w: Walk): Generator<void, void, void> {
  const { files, seen } = w;
  let real: string;
  try {
    real = Deno.realPathSync(dir);
  } catch {
    return; // gone while we looked
  }
  if (seen.has(real)) return;
  seen.add(real);
  const subdirs: string[] = [];
  const candidates: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith(".")) continue;
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) subdirs.push(path);
      else if (e.isSymlink || (e.isFile && isManifestName(e.name))) candidates.push(path);
    }
  } catch (err) {
    if (w.top) {
      throw new KipvsError("io", `cannot read manifest directory ${dir}`, {
        cause: err,
        details: { path: dir },
      });
    }
    return; // a subdirectory removed or unreadable: its files are gone for us
  }
  for (const path of candidates) {
    try {
      const info = Deno.statSync(path); // follows symlinks
      if (info.isDirectory) subdirs.push(path);
      else if (info.isFile && isManifestName(path)) files.set(path, signature(info));
    } catch {
      // A dangling symlink or a file removed meanwhile: not a manifest (now).
    }
    if (++w.stats.n % STAT_STEP === 0) yield;
  }
  subdirs.sort();
  for (const sub of subdirs) yield* walk(sub, { ...w, top: false });
}

function isManifestName(name: string): boolean {
  return MANIFEST_EXTENSIONS.some((ext) => name.endsWith(ext));
}

/** What {@link statManifests} found for the paths file events named. */
export interface PathsListing {
  /** Path → signature of the named paths that are manifest files now. */
  files: Map<string, string>;
  /** Named paths that no longer exist. */
  gone: string[];
}

/**
 * Looks only at `paths` (absolute paths that file events named) under the directory `root`:
 * the work of a change in proportion to the change. Undefined when a path needs the whole
 * directory listed again: it is not a plain manifest file under `root` (a directory, a hidden
 * name such as a ConfigMap's `..data`, another extension, outside `root`) or cannot be read.
 */
export function statManifests(root: string, paths: Iterable<string>): PathsListing | undefined {
  const out: PathsListing = { files: new Map(), gone: [] };
  for (const path of paths) {
    if (!path.startsWith(root + "/") || !isManifestName(path)) return undefined;
    if (path.slice(root.length + 1).split("/").some((s) => s.startsWith(".") || s === "")) {
      return undefined;
    }
    try {
      const info = Deno.statSync(path); // follows symlinks, as the listing does
      if (!info.isFile) return undefined;
      out.files.set(path, signature(info));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) return undefined;
      out.gone.push(path);
    }
  }
  return out;
}

/**
 * Whether a rename event announces a complete manifest file: `path` is a manifest file now.
 * A rename that took a file away (an editor moving the original aside before writing the new
 * one) is not: the replacement may still be on its way.
 */
export function renamedIntoPlace(path: string): boolean {
  if (!isManifestName(path)) return false;
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
