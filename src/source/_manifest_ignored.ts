/**
 * Input of the manifest files that kipvs does not read, said once: an unknown kind or
 * apiVersion, a malformed List (per file, from its load), and an EndpointSlice whose Service no
 * file defines (across files, from the merged view). Each file and reason gets one info line
 * (each object a debug line, from the load); a reason that goes away and comes back is said
 * again. The objects ignored now are counted for the "read manifests" line.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { addIgnored, type IgnoredInput } from "./_manifest_load.ts";
import { identity, type ManifestView, type ViewChange } from "./_manifest_view.ts";

/** The reason of an EndpointSlice whose Service is not defined. */
export const ORPHAN_SLICE = "EndpointSlice of a Service no file defines";

/** Keeps what was said about ignored input, per file. */
export class IgnoredInputReport {
  #log: Logger;
  /** file → its groups at its last read. */
  #byFile = new Map<string, IgnoredInput[]>();
  /** service "namespace/name" → its slices ("namespace/name") → the file defining each. */
  #orphans = new Map<string, Map<string, string>>();
  /** file → reasons already said. */
  #said = new Map<string, Set<string>>();

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Objects ignored now, all files together. */
  get count(): number {
    let n = 0;
    for (const groups of this.#byFile.values()) for (const g of groups) n += g.count;
    for (const slices of this.#orphans.values()) n += slices.size;
    return n;
  }

  /** A file's load: what it ignores now (nothing for a file that is gone). */
  file(file: string, ignored: readonly IgnoredInput[] | undefined): void {
    if (ignored === undefined || ignored.length === 0) this.#byFile.delete(file);
    else this.#byFile.set(file, [...ignored]);
  }

  /**
   * After the view took a change: the slices of the services it touched whose Service is not
   * defined; then says what is new, once per file and reason.
   */
  settle(view: ManifestView, change: ViewChange): void {
    for (const svc of change.services) {
      const slices = view.slices.byService.get(svc);
      if (view.services.has(svc) || !slices || slices.size === 0) {
        this.#orphans.delete(svc);
        continue;
      }
      const files = new Map<string, string>();
      for (const [key, slice] of slices) {
        files.set(key, view.fileOf(identity(slice)) ?? "(unknown file)");
      }
      this.#orphans.set(svc, files);
    }
    this.#say();
  }

  #say(): void {
    const now = new Map<string, IgnoredInput[]>();
    for (const [file, groups] of this.#byFile) now.set(file, [...groups]);
    for (const [svc, slices] of this.#orphans) {
      for (const [slice, file] of slices) {
        let groups = now.get(file);
        if (!groups) now.set(file, groups = []);
        addIgnored(groups, ORPHAN_SLICE, `EndpointSlice ${slice} (Service ${svc})`);
      }
    }
    for (const [file, said] of this.#said) {
      const reasons = new Set((now.get(file) ?? []).map((g) => g.reason));
      for (const r of said) if (!reasons.has(r)) said.delete(r);
      if (said.size === 0) this.#said.delete(file);
    }
    for (const [file, groups] of now) {
      let said = this.#said.get(file);
      if (!said) this.#said.set(file, said = new Set());
      for (const g of groups) {
        if (said.has(g.reason)) continue;
        said.add(g.reason);
        this.#log.info("manifest input ignored", {
          file,
          reason: g.reason,
          objects: g.count,
          examples: g.objects.join("; ") + (g.count > g.objects.length ? "; ..." : ""),
        });
      }
    }
  }
}
