/**
 * Turning the text of one manifest file into decoded objects: JSON, multi-document YAML, and
 * lists (`kind: List` as `kubectl get a,b -o yaml` prints, and typed lists such as
 * `ServiceList` as the API returns them, whose items carry no kind).
 *
 * YAML is read with the YAML 1.2 core schema (`yes` is a string, not a boolean). Documents in
 * the block style kubectl writes go through a fast reader (`_kubeyaml.ts`); anything else goes
 * to `npm:yaml`.
 *
 * @module
 */

import { parseAllDocuments } from "yaml";
import { KipvsError } from "../errors.ts";
import { parseKubeYaml } from "./_kubeyaml.ts";

/** One object found in a file, with what its enclosing typed list says about it. */
export interface ManifestItem {
  raw: unknown;
  /** Kind and apiVersion implied by a typed list (`ServiceList` → Service). */
  kind?: string;
  apiVersion?: string;
  /** "document 2", "document 1, items[3]": where in the file, for messages. */
  where: string;
}

/** How a file was read (for tests and benchmarks). */
export type ParsedWith = "json" | "kubeyaml" | "yaml";

/** Parses one file's text; throws an "invalid-config" KipvsError naming the file when it does not. */
export function parseManifest(
  text: string,
  file: string,
): { items: ManifestItem[]; with: ParsedWith } {
  const { docs, with: how } = decode(text, file);
  const items: ManifestItem[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // an empty document
    expand(doc, docs.length > 1 ? `document ${i + 1}` : "", items);
  });
  return { items, with: how };
}

function decode(text: string, file: string): { docs: unknown[]; with: ParsedWith } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark
  const first = text.trimStart()[0];
  if (file.endsWith(".json") || first === "{" || first === "[") {
    try {
      return { docs: [JSON.parse(text)], with: "json" };
    } catch (err) {
      // A .yaml file may hold flow-style YAML that is not JSON; a .json file must be JSON.
      if (file.endsWith(".json")) throw parseError(file, (err as Error).message, err);
    }
  }
  const fast = parseKubeYaml(text);
  if (fast !== undefined) return { docs: fast, with: "kubeyaml" };
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) throw parseError(file, err.message, err);
    out.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return { docs: out, with: "yaml" };
}

function parseError(file: string, message: string, cause: unknown): KipvsError {
  const first = (message.split("\n")[0] ?? "").replace(/:\s*$/, "");
  return new KipvsError("invalid-config", `cannot parse ${file}: ${first}`, {
    cause,
    details: { file },
  });
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
  out.push({ raw: doc, where });
}
