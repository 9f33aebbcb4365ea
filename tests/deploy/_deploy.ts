/**
 * deploy/ as data for its tests: every YAML document of deploy/*.yaml, the DaemonSet's pieces,
 * the ConfigMap's files and the flags of scripts/permissions.
 *
 * @module
 */

import { loadAll } from "js-yaml";
import { fileURLToPath } from "node:url";

/** The checkout. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

// deno-lint-ignore no-explicit-any
export type Json = any;

/** One manifest document and the file it came from. */
export interface Manifest {
  file: string;
  doc: Json;
}

/** Every document of deploy/*.yaml, in file order. */
export async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  const files = [...Deno.readDirSync(`${ROOT}/deploy`)].map((e) => e.name)
    .filter((n) => /\.ya?ml$/.test(n)).sort();
  for (const file of files) {
    const text = await Deno.readTextFile(`${ROOT}/deploy/${file}`);
    for (const doc of loadAll(text)) if (doc !== null && doc !== undefined) out.push({ file, doc });
  }
  return out;
}

/** The one document of `kind`; throws when there is none or more than one. */
export function one(all: Manifest[], kind: string): Json {
  const found = all.filter((m) => m.doc.kind === kind);
  if (found.length !== 1) throw new Error(`deploy/ has ${found.length} ${kind} documents, not 1`);
  return found[0]!.doc;
}

/** The flags of scripts/permissions (comments and blank lines dropped). */
export async function permissionFlags(): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/scripts/permissions`);
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

/** The comma-separated values of one `--allow-X=a,b` flag ([] when absent or unscoped). */
export function allowList(flags: string[], name: string): string[] {
  const f = flags.find((x) => x.startsWith(`--${name}=`));
  return f ? f.slice(name.length + 3).split(",") : [];
}
