/**
 * IP addresses and CIDRs in the text form the kernel tools print (glibc `inet_ntop`): IPv4
 * dotted quads, IPv6 in RFC 5952 form (lower case, the longest run of two or more zero groups
 * shortened to "::", IPv4-mapped addresses as `::ffff:a.b.c.d`). Comparing what kipvs wants with
 * what `ipset save` and `iptables-save` print needs both sides in this one form.
 *
 * @module
 */

import type { Family } from "../../proxy/config.ts";

/** An address as 4 (IPv4) or 16 (IPv6) bytes. */
export type AddrBytes = Uint8Array;

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): number[] | undefined {
  const m = V4.exec(s);
  if (!m) return undefined;
  const out = m.slice(1).map(Number);
  return out.every((n) => n <= 255) ? out : undefined;
}

function parseV6(input: string): AddrBytes | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(input) || input.length < 2) return undefined;
  let s = input;
  if (s.includes(".")) {
    // A dotted IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
    const cut = s.lastIndexOf(":");
    const v4 = parseV4(s.slice(cut + 1));
    if (!v4) return undefined;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    s = `${s.slice(0, cut + 1)}${hex(v4[0]!, v4[1]!)}:${hex(v4[2]!, v4[3]!)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const parse = (g: string) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const head = groups(halves[0]!).map(parse);
  const rest = halves.length === 2 ? groups(halves[1]!).map(parse) : [];
  if ([...head, ...rest].some(Number.isNaN)) return undefined;
  const total = head.length + rest.length;
  let words: number[];
  if (halves.length === 2) {
    if (total > 7) return undefined;
    words = [...head, ...new Array<number>(8 - total).fill(0), ...rest];
  } else {
    if (total !== 8) return undefined;
    words = head;
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseAddr(s: string): AddrBytes | undefined {
  const v4 = parseV4(s);
  if (v4) return Uint8Array.from(v4);
  return s.includes(":") ? parseV6(s) : undefined;
}

/** The family of an address's bytes. */
export function addrFamily(b: AddrBytes): Family {
  return b.length === 4 ? 4 : 6;
}

/** The text form `inet_ntop` prints for an address. */
export function formatAddr(b: AddrBytes): string {
  if (b.length === 4) return Array.from(b).join(".");
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of at least two zero groups, the first one on a tie (RFC 5952 4.2).
  let best = { base: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > best.len) best = { base: i, len: j - i };
    i = j;
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  // glibc prints IPv4-mapped (and the old IPv4-compatible) addresses with a dotted tail.
  if (best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
    const prefix = best.len === 5 ? "::ffff:" : "::";
    return prefix + Array.from(b.subarray(12)).join(".");
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best.base) {
      out += "::";
      i += best.len - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += w[i]!.toString(16);
  }
  return out;
}

/** The canonical text of an address, or undefined when `s` is not an address. */
export function canonicalAddr(s: string): string | undefined {
  const b = parseAddr(s);
  return b ? formatAddr(b) : undefined;
}

/** A parsed CIDR: the network address (host bits cleared) and the prefix length. */
export interface Cidr {
  addr: AddrBytes;
  prefix: number;
}

/** Parses "a.b.c.d/n" or "x::/n" (a bare address is a host route); undefined when invalid. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  const addr = parseAddr(slash < 0 ? s : s.slice(0, slash));
  if (!addr) return undefined;
  const max = addr.length * 8;
  const ptext = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(ptext)) return undefined;
  const prefix = Number(ptext);
  if (prefix > max) return undefined;
  const net = addr.slice();
  for (let bit = prefix; bit < max; bit++) net[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { addr: net, prefix };
}

/** "network/prefix" in canonical text, host bits cleared; undefined when `s` is not a CIDR. */
export function canonicalCidr(s: string): string | undefined {
  const c = parseCidr(s);
  return c ? `${formatAddr(c.addr)}/${c.prefix}` : undefined;
}
