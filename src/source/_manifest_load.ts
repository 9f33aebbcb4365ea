/**
 * From one manifest file's text to the objects it defines: parse, validate each object, log
 * what is skipped and why.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { describeIssue, describeObject, formatIssue, validateObject } from "../k8s/validate.ts";
import { type ParsedWith, parseManifest } from "./_manifest_parse.ts";
import { type Definition, identity } from "./_manifest_view.ts";
import { compact } from "./_compact.ts";

/** Options of {@link loadManifest}. */
export interface LoadOptions {
  /** Only the Node of this name is kept. */
  nodeName: string;
  logger: Logger;
  /**
   * The file's definitions at its last good read. An object that turns invalid keeps its
   * previous definition, as the API server would have refused the update.
   */
  previous?: ReadonlyMap<string, Definition>;
}

/** What one file defines. */
export interface Loaded {
  definitions: Map<string, Definition>;
  /** Objects refused by validation (the count of objects, not of issues). */
  invalid: number;
  parsedWith: ParsedWith;
}

/**
 * The objects `text` defines. Throws the parse error (an "invalid-config" KipvsError naming the
 * file) when the text is not YAML or JSON; invalid objects are logged and skipped.
 */
export function loadManifest(text: string, file: string, o: LoadOptions): Loaded {
  const { items, with: parsedWith } = parseManifest(text, file);
  const log = o.logger;
  const definitions = new Map<string, Definition>();
  let invalid = 0;
  for (const item of items) {
    const r = validateObject(item.raw, {
      kind: item.kind,
      apiVersion: item.apiVersion,
      defaultNamespace: "default",
    });
    const ctx = { ...r, source: `file ${file}${item.where ? `, ${item.where}` : ""}` };
    if (r.ignored) {
      if (log.enabled("debug")) log.debug(`ignoring ${describeObject(ctx)}: ${r.reason}`);
      continue;
    }
    for (const w of r.warnings) log.warn(`${describeObject(ctx)}: ${describeIssue(w)}`);
    if (r.object === undefined) {
      invalid++;
      for (const issue of r.issues) log.warn(formatIssue(ctx, issue));
      const id = `${r.kind}/${r.namespace}/${r.name}`;
      const prev = r.name === "" ? undefined : o.previous?.get(id);
      if (prev) {
        definitions.set(id, prev);
        log.warn(`keeping the last good version of ${describeObject(ctx)}`);
      }
      continue;
    }
    if (r.object.kind === "Node" && r.object.metadata.name !== o.nodeName) {
      if (log.enabled("debug")) log.debug(`ignoring ${describeObject(ctx)}: not this node`);
      continue;
    }
    const id = identity(r.object);
    if (definitions.has(id)) {
      log.warn(`${describeObject(ctx)} is defined twice in the file; the later one is used`);
    }
    definitions.set(id, { object: compact(r.object) });
  }
  return { definitions, invalid, parsedWith };
}
