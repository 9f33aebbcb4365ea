/**
 * Label and field selectors as the API server parses them (the subset proxies use and a bit
 * more): `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, joined by commas; field
 * selectors `metadata.name`, `metadata.namespace` with `=`, `==`, `!=`.
 *
 * @module
 */

/** A predicate over an object's labels or fields. */
export type Matcher = (values: Record<string, string>) => boolean;

/** Thrown for a selector the server would answer 400 BadRequest to. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/** Splits at commas that are not inside parentheses. */
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of s) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

const KEY =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

/** Parses a label selector; "" matches everything. */
export function parseLabelSelector(selector: string): Matcher {
  const preds: Matcher[] = [];
  for (const t of terms(selector)) {
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^!\s*(\S+)$/))) {
      const k = key(m[1]!, selector);
      preds.push((l) => !(k in l));
    } else if ((m = t.match(/^(\S+?)\s*(==|!=|=)\s*(\S*)$/))) {
      const k = key(m[1]!, selector);
      const v = m[3]!;
      preds.push(m[2] === "!=" ? (l) => l[k] !== v : (l) => l[k] === v);
    } else if ((m = t.match(/^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const k = key(m[1]!, selector);
      const vs = new Set(m[3]!.split(",").map((x) => x.trim()));
      preds.push(
        m[2] === "in" ? (l) => k in l && vs.has(l[k]!) : (l) => !(k in l) || !vs.has(l[k]!),
      );
    } else if ((m = t.match(/^(\S+)$/))) {
      const k = key(m[1]!, selector);
      preds.push((l) => k in l);
    } else {
      throw new SelectorError(
        `unable to parse requirement: "${t}" in label selector "${selector}"`,
      );
    }
  }
  return (l) => preds.every((p) => p(l));
}

function key(k: string, selector: string): string {
  if (!KEY.test(k)) throw new SelectorError(`invalid label key "${k}" in selector "${selector}"`);
  return k;
}

/** Field selectors the server supports for every resource. */
const FIELDS = new Set(["metadata.name", "metadata.namespace"]);

/** Parses a field selector; "" matches everything. */
export function parseFieldSelector(selector: string): Matcher {
  const preds: Matcher[] = [];
  for (const t of terms(selector)) {
    const m = t.match(/^([^=!]+?)\s*(==|!=|=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector "${selector}": "${t}"`);
    const f = m[1]!;
    if (!FIELDS.has(f)) {
      throw new SelectorError(`field label not supported: ${f}`);
    }
    const v = m[3]!;
    preds.push(m[2] === "!=" ? (o) => o[f] !== v : (o) => o[f] === v);
  }
  return (o) => preds.every((p) => p(o));
}
