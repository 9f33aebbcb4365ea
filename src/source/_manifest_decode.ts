/**
 * From a manifest file's bytes to its text. YAML 1.2 (§5.2) lets a file be UTF-8, UTF-16 or
 * UTF-32, with or without a byte order mark; JSON is UTF-8. kipvs reads all of them: Windows
 * PowerShell's `>` writes UTF-16 with a byte order mark, and YAML tools read such files. What
 * does not decode is refused with an error naming the file and where: invalid UTF-8 (a Latin-1
 * file, binary data), a NUL character (binary data, or UTF-16 whose first character is not
 * ASCII and that has no byte order mark to tell its encoding), invalid UTF-16 or UTF-32.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";

/** Encodings a manifest file may be in. */
export type Encoding = "utf-8" | "utf-16le" | "utf-16be" | "utf-32le" | "utf-32be";

/**
 * The encoding of `b` and the length of its byte order mark, from its first four bytes as YAML
 * 1.2 tells them apart: a byte order mark, or else the NUL bytes around a first character that
 * is ASCII (as every manifest's first character is).
 */
export function detectEncoding(b: Uint8Array): { encoding: Encoding; bom: number } {
  const [b0, b1, b2, b3] = [b[0], b[1], b[2], b[3]];
  if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return { encoding: "utf-32be", bom: 4 };
  if (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) return { encoding: "utf-32le", bom: 4 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: "utf-16be", bom: 2 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: "utf-16le", bom: 2 };
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: "utf-8", bom: 3 };
  if (b.length >= 4 && b0 === 0 && b1 === 0 && b2 === 0 && b3 !== 0) {
    return { encoding: "utf-32be", bom: 0 };
  }
  if (b.length >= 4 && b0 !== 0 && b1 === 0 && b2 === 0 && b3 === 0) {
    return { encoding: "utf-32le", bom: 0 };
  }
  if (b.length >= 2 && b0 === 0 && b1 !== 0) return { encoding: "utf-16be", bom: 0 };
  if (b.length >= 2 && b0 !== 0 && b1 === 0) return { encoding: "utf-16le", bom: 0 };
  return { encoding: "utf-8", bom: 0 };
}

/** Decodes a manifest file; an "invalid-config" KipvsError naming the file when it cannot. */
export function decodeManifest(bytes: Uint8Array, file: string): string {
  const { encoding, bom } = detectEncoding(bytes);
  const body = bytes.subarray(bom);
  let text: string;
  if (encoding.startsWith("utf-32")) {
    text = decodeUtf32(body, encoding === "utf-32be", file);
  } else {
    try {
      text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(body);
    } catch {
      throw decodeError(file, invalidAt(body, encoding));
    }
  }
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const hint = encoding === "utf-8"
      ? " (binary data, or UTF-16/32 without a byte order mark)"
      : "";
    throw decodeError(file, `a NUL character at ${position(text, nul)}${hint}`);
  }
  return text;
}

/**
 * UTF-32 by hand: TextDecoder (the WHATWG Encoding standard) has no UTF-32, and YAML 1.2 asks
 * for it; four bytes a code point, no surrogates, nothing above U+10FFFF.
 */
function decodeUtf32(b: Uint8Array, bigEndian: boolean, file: string): string {
  if (b.length % 4 !== 0) {
    throw decodeError(file, `UTF-32 of ${b.length} bytes (not a multiple of 4)`);
  }
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const parts: string[] = [];
  const chunk: number[] = [];
  for (let at = 0; at < b.length; at += 4) {
    const cp = view.getUint32(at, !bigEndian);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw decodeError(file, `invalid UTF-32: code point 0x${cp.toString(16)} at byte ${at}`);
    }
    chunk.push(cp);
    if (chunk.length === 8192) parts.push(String.fromCodePoint(...chunk.splice(0)));
  }
  parts.push(String.fromCodePoint(...chunk));
  return parts.join("");
}

/** Where the first invalid sequence is, for the message (only on the error path). */
function invalidAt(b: Uint8Array, encoding: Encoding): string {
  if (encoding !== "utf-8") {
    return b.length % 2 === 0
      ? `invalid ${encoding.toUpperCase()} (an unpaired surrogate)`
      : `invalid ${encoding.toUpperCase()}: ${b.length} bytes (an odd number)`;
  }
  let lo = 0, hi = b.length; // the longest prefix that may go on validly, by bisection
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  // The prefix may end inside the sequence that goes wrong: that sequence starts at its lead.
  let at = Math.min(lo, b.length - 1);
  for (let i = lo - 1; i >= Math.max(0, lo - 3) && b[i]! >= 0x80; i--) {
    if (b[i]! >= 0xc0) {
      at = i;
      break;
    }
  }
  const prefix = new TextDecoder().decode(b.subarray(0, at));
  return `invalid UTF-8 (byte 0x${b[at]!.toString(16).padStart(2, "0")} at ${
    position(prefix, prefix.length)
  }, byte ${at}): kipvs reads UTF-8, UTF-16 and UTF-32`;
}

/** "line 3, column 7" of offset `at` in `text`. */
function position(text: string, at: number): string {
  let line = 1, start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return `line ${line}, column ${at - start + 1}`;
}

function decodeError(file: string, what: string): KipvsError {
  return new KipvsError("invalid-config", `cannot read ${file}: ${what}`, { details: { file } });
}
