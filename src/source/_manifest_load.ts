/**
 * From one manifest file to the objects it defines: decode, parse, validate each object, and
 * say what is skipped and why. {@link loadFile} is pure (no logger, no state: it runs in the
 * parse worker); {@link applyLoad} logs its messages and keeps the last good version of objects
 * that turned invalid.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { describeIssue, describeObject, formatIssue, validateObject } from "../k8s/validate.ts";
import { type ParsedWith, parseManifest } from "./_manifest_parse.ts";
import { decodeManifest } from "./_manifest_decode.ts";
import { SHAPE_LIMITS, type ShapeLimits } from "./_manifest_bounds.ts";
import { type Definition, describeIdentity, identity } from "./_manifest_view.ts";
import { compact } from "./_compact.ts";
import type { KubeObject } from "../k8s/types.ts";

/** Issues logged per invalid object; the rest are counted. */
const MAX_ISSUES_LOGGED = 10;

/** A message for the log, made where no logger is (the parse worker). */
export interface LoadMessage {
  level: "warn" | "debug";
  msg: string;
}

/** What one file defines, as plain data (it crosses from the worker as is). */
export interface FileLoad {
  /** Identity → validated object. */
  objects: [string, KubeObject][];
  /** Identities of the objects refused by validation that have one. */
  invalidIds: string[];
  /** Objects refused by validation (the count of objects, not of issues). */
  invalid: number;
  messages: LoadMessage[];
  parsedWith: ParsedWith;
}

/** Options of {@link loadFile}. */
export interface LoadFileOptions {
  /** Only the Node of this name is kept. */
  nodeName: string;
  limits?: ShapeLimits;
  /** Produce debug messages too (what is ignored and why). */
  debug?: boolean;
}

/**
 * The objects a file's bytes define. Throws an "invalid-config" KipvsError naming the file when
 * they do not decode or parse, or are over a bound; invalid objects become messages.
 */
export function loadFile(bytes: Uint8Array, file: string, o: LoadFileOptions): FileLoad {
  return loadText(decodeManifest(bytes, file), file, o);
}

/** {@link loadFile} of text already decoded. */
export function loadText(text: string, file: string, o: LoadFileOptions): FileLoad {
  const { items, with: parsedWith } = parseManifest(text, file, o.limits ?? SHAPE_LIMITS);
  const out: FileLoad = { objects: [], invalidIds: [], invalid: 0, messages: [], parsedWith };
  const warn = (msg: string) => out.messages.push({ level: "warn", msg });
  const debug = (msg: string) => o.debug && out.messages.push({ level: "debug", msg });
  const seen = new Set<string>();
  for (const item of items) {
    const r = validateObject(item.raw, {
      kind: item.kind,
      apiVersion: item.apiVersion,
      defaultNamespace: "default",
    });
    const ctx = { ...r, source: `file ${file}${item.where ? `, ${item.where}` : ""}` };
    if (r.ignored) {
      debug(`ignoring ${describeObject(ctx)}: ${r.reason}`);
      continue;
    }
    for (const w of r.warnings.slice(0, MAX_ISSUES_LOGGED)) {
      warn(`${describeObject(ctx)}: ${describeIssue(w)}`);
    }
    if (r.object === undefined) {
      out.invalid++;
      for (const issue of r.issues.slice(0, MAX_ISSUES_LOGGED)) warn(formatIssue(ctx, issue));
      const more = r.issues.length - MAX_ISSUES_LOGGED;
      if (more > 0) warn(`invalid ${describeObject(ctx)}: and ${more} more issues`);
      if (r.name !== "") out.invalidIds.push(`${r.kind}/${r.namespace}/${r.name}`);
      continue;
    }
    if (r.object.kind === "Node" && r.object.metadata.name !== o.nodeName) {
      debug(`ignoring ${describeObject(ctx)}: not this node`);
      continue;
    }
    const id = identity(r.object);
    if (seen.has(id)) {
      warn(`${describeObject(ctx)} is defined twice in the file; the later one is used`);
      out.objects = out.objects.filter(([other]) => other !== id);
    }
    seen.add(id);
    out.objects.push([id, r.object]);
  }
  return out;
}

/** Options of {@link applyLoad}. */
export interface ApplyOptions {
  /** The file, for messages. */
  file: string;
  logger: Logger;
  /**
   * The file's definitions at its last good read. An object that turns invalid keeps its
   * previous definition, as the API server would have refused the update.
   */
  previous?: ReadonlyMap<string, Definition>;
  /** The objects are not yet in compact form (they did not come through JSON). */
  compact?: boolean;
}

/** What one file defines, ready for the view. */
export interface Loaded {
  definitions: Map<string, Definition>;
  /** Objects refused by validation (the count of objects, not of issues). */
  invalid: number;
  parsedWith: ParsedWith;
}

/** Logs a file's messages and turns its objects into definitions. */
export function applyLoad(load: FileLoad, o: ApplyOptions): Loaded {
  const log = o.logger;
  for (const m of load.messages) {
    if (m.level === "warn") log.warn(m.msg);
    else if (log.enabled("debug")) log.debug(m.msg);
  }
  const definitions = new Map<string, Definition>();
  for (const [id, object] of load.objects) {
    definitions.set(id, { object: o.compact ? compact(object) : object });
  }
  for (const id of load.invalidIds) {
    const prev = o.previous?.get(id);
    if (!prev || definitions.has(id)) continue;
    definitions.set(id, prev);
    log.warn(`keeping the last good version of ${describeIdentity(id)} (file ${o.file})`);
  }
  return { definitions, invalid: load.invalid, parsedWith: load.parsedWith };
}

/** Options of {@link loadManifest}. */
export interface LoadOptions extends Omit<ApplyOptions, "compact" | "file"> {
  /** Only the Node of this name is kept. */
  nodeName: string;
}

/**
 * The objects `text` defines, in this thread (benchmarks, tests). Throws the parse error (an
 * "invalid-config" KipvsError naming the file) when the text is not YAML or JSON; invalid
 * objects are logged and skipped.
 */
export function loadManifest(text: string, file: string, o: LoadOptions): Loaded {
  const load = loadText(text, file, { nodeName: o.nodeName, debug: o.logger.enabled("debug") });
  return applyLoad(load, { ...o, file, compact: true });
}
