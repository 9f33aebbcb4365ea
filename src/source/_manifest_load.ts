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
import type { KubeObject } from "../k8s/types.ts";

/** Issues logged per invalid object; the rest are counted. */
const MAX_ISSUES_LOGGED = 10;

/** A message for the log, made where no logger is (the parse worker). */
export interface LoadMessage {
  level: "warn" | "debug";
  msg: string;
}

/** Objects of a file kipvs does not read, for one reason. */
export interface IgnoredInput {
  /** "kind Servise is not read by kipvs", "malformed List: it has items that are not a list". */
  reason: string;
  /** How many objects. */
  count: number;
  /** The first few, described ("Servise default/web (file f, document 1)"). */
  objects: string[];
}

/** Objects of an {@link IgnoredInput} described by name; the rest are counted. */
const IGNORED_NAMED = 3;

/** Adds one ignored object to `groups` under `reason`. */
export function addIgnored(groups: IgnoredInput[], reason: string, object: string): void {
  let g = groups.find((x) => x.reason === reason);
  if (!g) groups.push(g = { reason, count: 0, objects: [] });
  g.count++;
  if (g.objects.length < IGNORED_NAMED) g.objects.push(object);
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
  /** Input kipvs does not read, by reason: an unknown kind or apiVersion, a malformed List. */
  ignored: IgnoredInput[];
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
  const out: FileLoad = {
    objects: [],
    invalidIds: [],
    invalid: 0,
    messages: [],
    ignored: [],
    parsedWith,
  };
  const warn = (msg: string) => out.messages.push({ level: "warn", msg });
  const debug = (msg: string) => o.debug && out.messages.push({ level: "debug", msg });
  const seen = new Set<string>();
  for (const item of items) {
    const where = `file ${file}${item.where ? `, ${item.where}` : ""}`;
    if (item.malformed) {
      debug(`ignoring ${where}: ${item.malformed}`);
      addIgnored(out.ignored, item.malformed, where);
      continue;
    }
    const r = validateObject(item.raw, {
      kind: item.kind,
      apiVersion: item.apiVersion,
      defaultNamespace: "default",
    });
    const ctx = { ...r, source: where };
    if (r.ignored) {
      debug(`ignoring ${describeObject(ctx)}: ${r.reason}`);
      // FQDN slices are the API's own, for other consumers: nothing to report.
      if (r.ignoredFor !== "addressType") addIgnored(out.ignored, r.reason!, describeObject(ctx));
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
}

/** What one file defines, ready for the view. */
export interface Loaded {
  definitions: Map<string, Definition>;
  /** Objects refused by validation (the count of objects, not of issues). */
  invalid: number;
  /** Input kipvs does not read, by reason. */
  ignored: IgnoredInput[];
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
    definitions.set(id, { object });
  }
  for (const id of load.invalidIds) {
    const prev = o.previous?.get(id);
    if (!prev || definitions.has(id)) continue;
    definitions.set(id, prev);
    log.warn(`keeping the last good version of ${describeIdentity(id)} (file ${o.file})`);
  }
  return {
    definitions,
    invalid: load.invalid,
    ignored: load.ignored,
    parsedWith: load.parsedWith,
  };
}

/** Options of {@link loadManifest}. */
export interface LoadOptions extends Omit<ApplyOptions, "file"> {
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
  return applyLoad(load, { ...o, file });
}
