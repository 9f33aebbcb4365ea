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

const DOC_START = /^---( +(#.*)?)?$/;
/** First characters that make a plain scalar something else (or that this reader leaves out). */
const INDICATORS = new Uint8Array(128);
for (const ch of "-?:,[]{}#&*!|>'\"%@`\t") INDICATORS[ch.charCodeAt(0)] = 1;

function isIndicator(code: number): boolean {
  return code < 128 && INDICATORS[code] === 1;
}
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
    const line = this.#lines[this.#i]!;
    if (isItemAt(line, indent)) return this.#sequence(indent);
    if (!splitEntryAt(line, indent)) bail(); // a bare scalar on its own line
    return this.#mapping(indent, false);
  }

  #sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (;;) {
      const ind = this.#peekIndent();
      if (ind < indent) break;
      if (ind > indent) bail();
      const line = this.#lines[this.#i]!;
      if (isDocMarker(line) || !isItemAt(line, indent)) break;
      let at = indent + 1;
      while (line.charCodeAt(at) === 32) at++;
      if (at === line.length || line.charCodeAt(at) === 35) {
        this.#i++;
        const next = this.#peekIndent();
        out.push(next > indent && !isDocMarker(this.#lines[this.#i]!) ? this.#block(next) : null);
      } else if (isItemAt(line, at)) {
        bail(); // "- - x"
      } else if (splitEntryAt(line, at)) {
        out.push(this.#mapping(at, true)); // "- key: value": a mapping at the key's column
      } else {
        out.push(scalarAt(line, at));
        this.#i++;
      }
    }
    return out;
  }

  /** Entries at `indent`; with `inline`, the first starts on the current line (a "- " item). */
  #mapping(indent: number, inline: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let first = inline;; first = false) {
      if (!first) {
        const ind = this.#peekIndent();
        if (ind < indent) break;
        if (ind > indent) bail();
      }
      const line = this.#lines[this.#i]!;
      if (!first && isDocMarker(line)) break;
      if (!first && isItemAt(line, indent)) bail(); // a sequence item among mapping keys
      if (!splitEntryAt(line, indent)) bail();
      const key = entryKey;
      if (Object.hasOwn(out, key)) bail(); // npm:yaml reports duplicate keys
      this.#i++;
      out[key] = this.#value(indent, line, entryValue);
    }
    return out;
  }

  /** The value of a mapping entry at `indent`, starting at `at` in `line`. */
  #value(indent: number, line: string, at: number): unknown {
    if (at === line.length || line.charCodeAt(at) === 35) {
      const next = this.#peekIndent();
      if (next < 0 || isDocMarker(this.#lines[this.#i]!)) return null;
      if (next > indent) return this.#block(next);
      if (next === indent && isItemAt(this.#lines[this.#i]!, indent)) {
        return this.#sequence(indent); // "key:\n- a" (sequence not indented under its key)
      }
      return null;
    }
    if (line.charCodeAt(at) === 124) return this.#literal(indent, line.slice(at));
    return scalarAt(line, at);
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

/** A sequence item starts at `from`: "-" then a space or the end of the line. */
function isItemAt(line: string, from: number): boolean {
  return line.charCodeAt(from) === 45 &&
    (from + 1 === line.length || line.charCodeAt(from + 1) === 32);
}

function isDocMarker(line: string): boolean {
  return line.startsWith("---") || line.startsWith("...");
}

// Results of splitEntryAt() and quotedAt(), kept here rather than allocated per call.
let entryKey = "";
let entryValue = 0;
let quotedValue = "";
let quotedEnd = 0;

/**
 * Whether `line` holds "key: value" from `from`; sets entryKey, and entryValue to where the
 * value starts (after the blanks; the line's length when there is none).
 */
function splitEntryAt(line: string, from: number): boolean {
  const c = line.charCodeAt(from);
  let after: number;
  if (c === 34 || c === 39) {
    if (!quotedAt(line, from)) return false;
    if (line.charCodeAt(quotedEnd) !== 58) return false; // ":"
    after = quotedEnd + 1;
    if (after < line.length && line.charCodeAt(after) !== 32) return false;
    entryKey = quotedValue;
  } else {
    let at = line.indexOf(": ", from);
    if (at < 0) {
      if (line.charCodeAt(line.length - 1) !== 58 || line.length - 1 < from) return false;
      at = line.length - 1;
    }
    const key = line.slice(from, at);
    if (key === "" || isIndicator(c) || key.includes(" #") || key.includes("\t")) bail();
    if (key.charCodeAt(key.length - 1) === 32 || key === "<<") bail();
    if (mayResolve(key)) {
      if (NULL.test(key) || TRUE.test(key) || FALSE.test(key) || OTHER_NUMBER.test(key)) {
        if (!INT.test(key) || key === "-0") bail();
      }
    }
    entryKey = key;
    after = at + 1;
  }
  if (entryKey === "__proto__") bail();
  while (line.charCodeAt(after) === 32) after++;
  entryValue = after;
  return true;
}

/** A one-line scalar value starting at `from` (a trailing comment dropped). */
function scalarAt(line: string, from: number): unknown {
  const c = line.charCodeAt(from);
  if (c === 34 || c === 39) {
    if (!quotedAt(line, from)) bail();
    let k = quotedEnd;
    if (k < line.length) {
      if (line.charCodeAt(k) !== 32) bail();
      while (line.charCodeAt(k) === 32) k++;
      if (k < line.length && line.charCodeAt(k) !== 35) bail();
    }
    return quotedValue;
  }
  let end = line.indexOf(" #", from);
  if (end < 0) end = line.length;
  while (end > from && line.charCodeAt(end - 1) === 32) end--;
  const v = line.slice(from, end);
  if (v === "{}") return {};
  if (v === "[]") return [];
  if (isIndicator(c)) {
    // "-", "?" and ":" start a plain scalar when a non-blank follows ("-1", ":x").
    if (!(c === 45 || c === 63 || c === 58) || v.length < 2 || v.charCodeAt(1) === 32) bail();
  }
  if (v.includes(": ") || v.charCodeAt(v.length - 1) === 58 || v.includes("\t")) bail();
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

/**
 * A quoted scalar starting at `from`; sets quotedValue and quotedEnd (just past the closing
 * quote). False when it does not close on this line.
 */
function quotedAt(line: string, from: number): boolean {
  const q = line.charCodeAt(from);
  let out = "";
  let run = from + 1;
  for (let k = from + 1; k < line.length; k++) {
    const ch = line.charCodeAt(k);
    if (ch === q) {
      if (q === 39 && line.charCodeAt(k + 1) === 39) { // '' in single quotes
        out += line.slice(run, k + 1);
        run = ++k + 1;
        continue;
      }
      quotedValue = out + line.slice(run, k);
      quotedEnd = k + 1;
      return true;
    }
    if (q === 34 && ch === 92) { // backslash in double quotes
      out += line.slice(run, k);
      const e = line[k + 1] ?? "";
      if (e === "u" || e === "x") {
        const len = e === "u" ? 4 : 2;
        const hex = line.slice(k + 2, k + 2 + len);
        if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) bail();
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
  return false;
}
