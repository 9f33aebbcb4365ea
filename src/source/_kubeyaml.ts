/**
 * A fast reader for the block-style YAML that kubectl and the usual tools write: block mappings
 * and sequences (indented or not), plain, single- and double-quoted one-line scalars, `|` and
 * `|-` literal blocks, `{}` and `[]`, comments and `---` separators.
 *
 * It exists for speed (`npm:yaml` reads about 3 MB/s; 10,000 services and their slices as
 * kubectl prints them are ~20 MB). It returns exactly what `npm:yaml` returns with its default
 * YAML 1.2 core schema, or `undefined` as soon as it meets anything outside its subset (anchors,
 * tags, flow collections, folded or multi-line scalars, floats, duplicate keys, tabs, ...):
 * the caller then parses the text with `npm:yaml`, which also produces the error messages.
 * tests/source/manifest_kubeyaml_test.ts compares the two on generated documents.
 *
 * @module
 */

class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported("outside the fast YAML subset");

/** The documents of `text`, or undefined when `text` is outside the subset. */
export function parseKubeYaml(text: string): unknown[] | undefined {
  try {
    return new Reader(text).documents();
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
}

function bail(): never {
  throw UNSUPPORTED;
}

const BLANK = /^ *(#.*)?$/;
const DOC_START = /^---( +(#.*)?)?$/;
/** First characters that make a plain scalar something else (or that this reader leaves out). */
const INDICATORS = new Set([..."-?:,[]{}#&*!|>'\"%@`\t"]);
// The YAML 1.2 core schema, as npm:yaml resolves plain scalars.
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const INT = /^-?(?:0|[1-9][0-9]{0,14})$/;
const OTHER_NUMBER =
  /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/;
const ESCAPES: Record<string, string> = {
  "\\": "\\",
  '"': '"',
  "/": "/",
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  "0": "\0",
};

class Reader {
  #lines: string[];
  #i = 0;

  constructor(text: string) {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.includes("\r")) {
      text = text.replaceAll("\r\n", "\n");
      if (text.includes("\r")) bail();
    }
    this.#lines = text.split("\n");
  }

  documents(): unknown[] {
    const docs: unknown[] = [];
    let open = false; // a "---" started a document that has no content yet
    for (;;) {
      this.#skipBlank();
      const line = this.#lines[this.#i];
      if (line === undefined) break;
      if (line.startsWith("---")) {
        if (!DOC_START.test(line)) bail();
        if (open) docs.push(null);
        open = true;
        this.#i++;
        continue;
      }
      if (line.startsWith("...") || line.startsWith("%")) bail();
      if (indentOf(line) !== 0) bail();
      docs.push(this.#block(0));
      open = false;
      // What ends a document's root node must be the end of the text or a marker.
      if (this.#peekIndent() >= 0 && !isDocMarker(this.#lines[this.#i]!)) bail();
    }
    if (open) docs.push(null);
    return docs;
  }

  /** Skips blank and comment lines; returns the indent of the next line, or -1 at the end. */
  #skipBlank(): number {
    const lines = this.#lines;
    for (; this.#i < lines.length; this.#i++) {
      const line = lines[this.#i]!;
      const n = countSpaces(line);
      if (n < line.length && line.charCodeAt(n) !== 35) { // not blank, not "#"
        if (line.charCodeAt(n) === 9) bail(); // a tab in the indentation
        return n;
      }
    }
    return -1;
  }

  /** The indent of the next content line, or -1 at the end. */
  #peekIndent(): number {
    return this.#skipBlank();
  }

  /** A mapping or sequence whose first line is the current line, at `indent`. */
  #block(indent: number): unknown {
    const content = this.#lines[this.#i]!.slice(indent);
    if (isItem(content)) return this.#sequence(indent);
    const entry = splitEntry(content);
    if (entry === undefined) bail(); // a bare scalar on its own line
    return this.#mapping(indent, content);
  }

  #sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      const ind = this.#peekIndent();
      if (ind < indent) break;
      if (ind > indent) bail();
      const line = this.#lines[this.#i]!;
      if (isDocMarker(line)) break;
      const content = line.slice(indent);
      if (!isItem(content)) break;
      const after = content.slice(1);
      const rest = after.trimStart();
      const col = indent + 1 + (after.length - rest.length);
      if (rest === "" || rest.startsWith("#")) {
        this.#i++;
        const next = this.#peekIndent();
        out.push(next > indent && !isDocMarker(this.#lines[this.#i]!) ? this.#block(next) : null);
      } else if (isItem(rest)) {
        bail(); // "- - x"
      } else if (splitEntry(rest) !== undefined) {
        out.push(this.#mapping(col, rest));
      } else {
        out.push(scalar(rest));
        this.#i++;
      }
    }
    return out;
  }

  /** Entries at `indent`; the first one may be given as `first` (the rest of a "- " line). */
  #mapping(indent: number, first: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let content: string | undefined = first;
    for (;;) {
      if (content === undefined) {
        const ind = this.#peekIndent();
        if (ind < indent) break;
        if (ind > indent) bail();
        const line = this.#lines[this.#i]!;
        if (isDocMarker(line)) break;
        content = line.slice(indent);
        if (isItem(content)) bail(); // a sequence item among mapping keys
      }
      const entry = splitEntry(content);
      if (entry === undefined) bail();
      const [key, rest] = entry;
      if (Object.hasOwn(out, key)) bail(); // npm:yaml reports duplicate keys
      this.#i++;
      out[key] = this.#value(indent, rest);
      content = undefined;
    }
    return out;
  }

  /** The value of a mapping entry at `indent`, whose text after "key:" is `rest`. */
  #value(indent: number, rest: string): unknown {
    if (rest === "" || rest.startsWith("#")) {
      const next = this.#peekIndent();
      if (next < 0 || isDocMarker(this.#lines[this.#i]!)) return null;
      if (next > indent) return this.#block(next);
      if (next === indent && isItem(this.#lines[this.#i]!.slice(indent))) {
        return this.#sequence(indent); // "key:\n- a" (sequence not indented under its key)
      }
      return null;
    }
    if (rest[0] === "|") return this.#literal(indent, rest);
    return scalar(rest);
  }

  /** A `|` or `|-` block under an entry at `indent`; the header line was consumed. */
  #literal(indent: number, header: string): string {
    const m = /^\|(-?) *(#.*)?$/.exec(header);
    if (m === null) bail();
    const lines = this.#lines;
    const firstLine = lines[this.#i];
    if (firstLine === undefined || /^ *$/.test(firstLine)) bail(); // leading blank lines
    const ci = indentOf(firstLine);
    if (ci <= indent) bail(); // an empty block
    const parts: string[] = [];
    while (this.#i < lines.length) {
      const line = lines[this.#i]!;
      if (/^ *$/.test(line)) {
        if (line.length > ci) bail();
        parts.push("");
      } else {
        if (countSpaces(line) < ci) break;
        parts.push(line.slice(ci));
      }
      this.#i++;
    }
    while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
    return parts.join("\n") + (m[1] === "-" ? "" : "\n");
  }
}

function countSpaces(line: string): number {
  let n = 0;
  while (line.charCodeAt(n) === 32) n++;
  return n;
}

/** Leading spaces; a tab in the indentation is outside the subset. */
function indentOf(line: string): number {
  const n = countSpaces(line);
  if (line.charCodeAt(n) === 9) bail();
  return n;
}

function isItem(content: string): boolean {
  return content === "-" || content.startsWith("- ");
}

function isDocMarker(line: string): boolean {
  return line.startsWith("---") || line.startsWith("...");
}

/** Splits "key: rest" (rest trimmed at the left); undefined when `content` is not an entry. */
function splitEntry(content: string): [string, string] | undefined {
  let key: string;
  let after: string;
  const c = content[0];
  if (c === '"' || c === "'") {
    const q = quoted(content);
    if (q === undefined) return undefined;
    const tail = content.slice(q.end);
    if (tail !== ":" && !tail.startsWith(": ")) return undefined;
    key = q.value;
    after = tail.slice(1);
  } else {
    let at = content.indexOf(": ");
    if (at < 0) {
      if (!content.endsWith(":")) return undefined;
      at = content.length - 1;
    }
    key = content.slice(0, at);
    after = content.slice(at + 1);
    if (key === "" || INDICATORS.has(key[0]!) || key.includes(" #") || key.includes("\t")) bail();
    if (key.endsWith(" ") || key === "__proto__" || key === "<<") bail();
    if (mayResolve(key)) {
      if (NULL.test(key) || TRUE.test(key) || FALSE.test(key) || OTHER_NUMBER.test(key)) {
        if (!INT.test(key) || key === "-0") bail();
      }
    }
  }
  if (key === "__proto__") bail();
  return [key, after.trimStart()];
}

/** A one-line scalar value (comments stripped). */
function scalar(text: string): unknown {
  const c = text[0]!;
  if (c === '"' || c === "'") {
    const q = quoted(text);
    if (q === undefined) bail();
    const tail = text.slice(q.end);
    if (!BLANK.test(tail) || (tail !== "" && tail[0] !== " ")) bail();
    return q.value;
  }
  const hash = text.indexOf(" #");
  const v = (hash < 0 ? text : text.slice(0, hash)).trimEnd();
  if (v === "{}") return {};
  if (v === "[]") return [];
  if (INDICATORS.has(c) && !((c === "-" || c === "?" || c === ":") && /^.[^ ]/.test(v))) bail();
  if (v.includes(": ") || v.endsWith(":") || v.includes("\t")) bail();
  if (!mayResolve(v)) return v;
  if (NULL.test(v)) return null;
  if (TRUE.test(v)) return true;
  if (FALSE.test(v)) return false;
  if (INT.test(v)) return Number(v);
  if (OTHER_NUMBER.test(v)) bail();
  return v;
}

/** Whether a plain scalar may be something other than a string (null, boolean, number). */
function mayResolve(v: string): boolean {
  return v.length === 0 || RESOLVABLE_FIRST.has(v.charCodeAt(0));
}
const RESOLVABLE_FIRST = new Set([..."0123456789-+.~nNtTfF"].map((c) => c.charCodeAt(0)));

/** A quoted scalar at the start of `text`; undefined when it does not close on this line. */
function quoted(text: string): { value: string; end: number } | undefined {
  const q = text[0];
  let out = "";
  let run = 1;
  for (let k = 1; k < text.length; k++) {
    const ch = text[k];
    if (q === "'" && ch === "'") {
      if (text[k + 1] === "'") {
        out += text.slice(run, k + 1);
        run = ++k + 1;
        continue;
      }
      return { value: out + text.slice(run, k), end: k + 1 };
    }
    if (q === '"' && ch === '"') return { value: out + text.slice(run, k), end: k + 1 };
    if (q === '"' && ch === "\\") {
      out += text.slice(run, k);
      const e = text[k + 1] ?? "";
      if (e === "u" || e === "x") {
        const len = e === "u" ? 4 : 2;
        const hex = text.slice(k + 2, k + 2 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) bail();
        out += String.fromCharCode(parseInt(hex, 16));
        k += 1 + len;
      } else {
        const r = ESCAPES[e];
        if (r === undefined) bail();
        out += r;
        k += 1;
      }
      run = k + 1;
    }
  }
  return undefined;
}
