/**
 * Turning the text of one manifest file into decoded objects: JSON, multi-document YAML, and
 * lists (`kind: List` as `kubectl get a,b -o yaml` prints, and typed lists such as
 * `ServiceList` as the API returns them, whose items carry no kind).
 *
 * YAML is read by `npm:js-yaml` with the YAML 1.2 core schema (`yes` is a string, not a
 * boolean), nesting bounded by its `maxDepth`. npm:yaml (eemeli/yaml) was measured against it
 * (2026-12, Deno 2.9, host): 10,000 files of a Service and its EndpointSlice in ~1.1 s against
 * ~17 s, and the 20 MB that `kubectl get -o yaml` prints for them in ~2.9 s against ~42 s, for
 * the same objects; its `maxAliasCount` bounds alias expansion, which js-yaml (which keeps an
 * alias as a shared reference, expanding nothing) leaves to `_manifest_bounds.ts` here.
 *
 * @module
 */

import { CORE_SCHEMA, loadAll } from "js-yaml";
import { KipvsError } from "../errors.ts";
import { checkBounds, mayHaveAnchors, SHAPE_LIMITS, type ShapeLimits } from "./_manifest_bounds.ts";

/** One object found in a file, with what its enclosing typed list says about it. */
export interface ManifestItem {
  raw: unknown;
  /** Kind and apiVersion implied by a typed list (`ServiceList` → Service). */
  kind?: string;
  apiVersion?: string;
  /** "document 2", "document 1, items[3]": where in the file, for messages. */
  where: string;
  /** Why the item is not an object kipvs can read (a List whose items is not a list). */
  malformed?: string;
}

/** How a file was read (for tests and benchmarks). */
export type ParsedWith = "json" | "yaml";

/**
 * Parses one file's text; throws an "invalid-config" KipvsError naming the file when it does
 * not parse or a document is over a bound of `limits` (nesting depth, alias expansion).
 */
export function parseManifest(
  text: string,
  file: string,
  limits: ShapeLimits = SHAPE_LIMITS,
): { items: ManifestItem[]; with: ParsedWith } {
  const { docs, with: how } = decode(text, file, limits);
  const aliases = how === "yaml" && mayHaveAnchors(text);
  const items: ManifestItem[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // an empty document
    const where = docs.length > 1 ? `document ${i + 1}` : "";
    const over = checkBounds(doc, { aliases, limits });
    if (over) throw parseError(file, where ? `${where}: ${over}` : over);
    expand(doc, where, items);
  });
  return { items, with: how };
}

function decode(
  text: string,
  file: string,
  limits: ShapeLimits,
): { docs: unknown[]; with: ParsedWith } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark
  const first = text.trimStart()[0];
  if (file.endsWith(".json") || first === "{" || first === "[") {
    try {
      return { docs: [JSON.parse(text)], with: "json" };
    } catch (err) {
      // A .yaml file may hold flow-style YAML that is not JSON; a .json file must be JSON.
      if (file.endsWith(".json")) throw parseError(file, (err as Error).message);
    }
  }
  try {
    return {
      docs: loadAll(text, { schema: CORE_SCHEMA, maxDepth: limits.maxDepth }),
      with: "yaml",
    };
  } catch (err) {
    // js-yaml's own errors have a reason and a position; anything else (a RangeError from a
    // stack too deep) is reported by its message alike.
    const e = err as { reason?: string; mark?: { line: number; column: number } };
    const where = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : "";
    throw parseError(file, (e.reason ?? (err as Error).message) + where);
  }
}

/** The longest parser message kept (js-yaml quotes alias names and tags from the input). */
const MAX_REASON = 200;

/**
 * The parser's message, first line, cut to {@link MAX_REASON}; not its error as a cause, whose
 * message quotes lines of the input.
 */
function parseError(file: string, message: string): KipvsError {
  let first = (message.split("\n")[0] ?? "").replace(/:\s*$/, "");
  if (first.length > MAX_REASON) first = first.slice(0, MAX_REASON - 3) + "...";
  return new KipvsError("invalid-config", `cannot parse ${file}: ${first}`, { details: { file } });
}

/** Lists are `{kind: "List" | "<Kind>List", items: [...]}`; their items are the objects. */
function expand(doc: unknown, where: string, out: ManifestItem[]): void {
  const r = doc as Record<string, unknown>;
  const isObject = typeof doc === "object" && doc !== null && !Array.isArray(doc);
  const kind = isObject && typeof r.kind === "string" ? r.kind : undefined;
  if (isObject && kind?.endsWith("List") && Array.isArray(r.items)) {
    const apiVersion = typeof r.apiVersion === "string" ? r.apiVersion : undefined;
    const itemKind = kind === "List" ? undefined : kind.slice(0, -"List".length);
    r.items.forEach((item, i) => {
      const at = `${where ? where + ", " : ""}items[${i}]`;
      out.push({
        raw: item,
        ...(itemKind ? { kind: itemKind, apiVersion } : {}),
        where: at,
      });
    });
    return;
  }
  if (isObject && kind?.endsWith("List")) {
    // A List without a list of items is nothing to read; said once, not as an unknown kind.
    const what = r.items === undefined ? "has no items" : "has items that are not a list";
    out.push({ raw: doc, where, malformed: `malformed ${kind.slice(0, 80)}: it ${what}` });
    return;
  }
  out.push({ raw: doc, where });
}
