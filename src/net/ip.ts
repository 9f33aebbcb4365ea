/**
 * IP addresses and CIDRs as Kubernetes objects carry them: parsing, canonical text, families.
 *
 * Canonical text is what the kernel tools print (glibc's `inet_ntop`, hence `ipset save` and
 * `ipvsadm -Sn`) and what kipvs compares: IPv4 in dotted decimal without leading zeros, IPv6 in
 * RFC 5952 form (lower case, leading zeros dropped, the first longest run of two or more zero
 * groups written `::`), so "FD00::0:1" and "fd00:0::1" both become "fd00::1"; like inet_ntop,
 * an IPv4-compatible or IPv4-mapped address ends in dotted decimal ("::1.2.3.4"). CIDRs are
 * canonicalised to their network address ("10.1.2.3/8" → "10.0.0.0/8"), as kube-proxy and
 * ipset store them.
 *
 * Like kube-proxy (`netutils.ParseIPSloppy`), IPv4 octets with leading zeros are read as decimal
 * ("010.0.0.1" is 10.0.0.1). Zoned IPv6 addresses ("fe80::1%eth0") and IPv4-mapped IPv6
 * addresses ("::ffff:10.0.0.1") are refused: neither names one address of one family.
 *
 * This is kipvs's one IP library: the netlink encoders parse with {@link parseIPInto} (into a
 * buffer they own, no allocation for IPv4) and the decoders print with {@link formatIPAt}
 * (straight from the receive buffer), so what the plan writes and what the kernel reads back
 * are spelled by the same code.
 *
 * @module
 */

import type { Family } from "../net/family.ts";

/** An address: 4 bytes for IPv4, 16 for IPv6. */
export interface IP {
  family: Family;
  /** Network order. */
  bytes: Uint8Array;
}

/** A network, with the host bits cleared. */
export interface CIDR {
  family: Family;
  /** The network address. */
  bytes: Uint8Array;
  prefix: number;
}

/** A parsed IP address. */
export interface ParsedIP {
  family: Family;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** Canonical text. */
  text: string;
}

/** A parsed CIDR, with host bits cleared. */
export interface ParsedCIDR {
  family: Family;
  /** The network address, 4 or 16 bytes. */
  bytes: Uint8Array;
  prefix: number;
  /** Canonical text of the network address, without the prefix. */
  address: string;
  /** Canonical text, "10.0.0.0/8". */
  text: string;
  /** The input had host bits set ("10.1.2.3/8"). */
  hostBitsSet: boolean;
}

/** Parses an IP address, or returns the reason it is not one. */
export function checkIP(text: string): ParsedIP | string {
  const out = new Uint8Array(16);
  const family = parseInto(text, out);
  if (typeof family === "string") return family;
  const bytes = family === 4 ? out.subarray(0, 4) : out;
  return { family, bytes, text: formatIP(bytes) };
}

/**
 * Parses an address into `out` (16 bytes: IPv4 in the first 4 and the rest zeroed, as the
 * kernel's `union nf_inet_addr`) and returns its family, or undefined when `text` is not an
 * address (see the module notes). No allocation for IPv4: encoders call it for every operation.
 */
export function parseIPInto(text: string, out: Uint8Array): Family | undefined {
  const r = parseInto(text, out);
  return typeof r === "string" ? undefined : r;
}

const NOT_IP = "not a valid IP address";

function parseInto(text: string, out: Uint8Array): Family | string {
  if (text.includes(":")) return parseIPv6(text, out);
  if (!parseIPv4(text, out, 0)) return NOT_IP;
  out.fill(0, 4, 16);
  return 4;
}

/** Parses an IP address; undefined when `text` is not one (see the module notes). */
export function parseIP(text: string): ParsedIP | undefined {
  const r = checkIP(text);
  return typeof r === "string" ? undefined : r;
}

/** The canonical text of an IP address, or undefined when `text` is not one. */
export function canonicalIP(text: string): string | undefined {
  if (isCanonicalIPv4(text)) return text;
  return parseIP(text)?.text;
}

/** The family of an IP address, or undefined when `text` is not one. */
export function ipFamily(text: string): Family | undefined {
  if (isCanonicalIPv4(text)) return 4;
  return parseIP(text)?.family;
}

/**
 * Whether `text` is an IPv4 address already in canonical form. Without allocating: the plan
 * asks this of every endpoint address on every full sync (120,000 at 10,000 services), and
 * {@link parseIP}'s byte array for each cost a third of the plan's time.
 */
export function isCanonicalIPv4(text: string): boolean {
  let parts = 0;
  let digits = 0;
  let v = 0;
  for (let k = 0; k <= text.length; k++) {
    const c = k === text.length ? 46 : text.charCodeAt(k);
    if (c === 46) {
      if (digits === 0 || ++parts > 4) return false;
      digits = 0;
      v = 0;
    } else if (c >= 48 && c <= 57 && digits < 3 && !(digits === 1 && v === 0)) {
      v = v * 10 + c - 48;
      if (v > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/** Parses a CIDR ("10.0.0.0/8", "fd00::/64"), or returns the reason it is not one. */
export function checkCIDR(text: string): ParsedCIDR | string {
  const slash = text.indexOf("/");
  if (slash < 0) return "not a valid CIDR: missing /prefix";
  const ip = checkIP(text.slice(0, slash));
  if (typeof ip === "string") return "not a valid CIDR: " + ip;
  const p = text.slice(slash + 1);
  const max = ip.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
    return `not a valid CIDR: prefix must be 0-${max}`;
  }
  const prefix = Number(p);
  const bytes = ip.bytes.slice();
  let hostBitsSet = false;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((bytes[i]! & ~mask & 0xff) !== 0) hostBitsSet = true;
    bytes[i] = bytes[i]! & mask;
  }
  const address = formatIP(bytes);
  return { family: ip.family, bytes, prefix, address, text: `${address}/${prefix}`, hostBitsSet };
}

/** Parses a CIDR; undefined when `text` is not one. */
export function parseCIDR(text: string): ParsedCIDR | undefined {
  const r = checkCIDR(text);
  return typeof r === "string" ? undefined : r;
}

/** Whether `ip` lies inside `cidr` (false across families). */
export function cidrContains(cidr: CIDR, ip: IP): boolean {
  if (cidr.family !== ip.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip.bytes[i]! & mask) !== cidr.bytes[i]) return false;
  }
  return true;
}

/** Canonical text of an address, or of its 4 or 16 bytes. */
export function formatIP(ip: Uint8Array | IP): string {
  const bytes = ip instanceof Uint8Array ? ip : ip.bytes;
  if (bytes.length === 4) return formatIPAt(4, bytes);
  if (bytes.length === 16) return formatIPAt(6, bytes);
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/**
 * Canonical text of the 4 (IPv4) or 16 (IPv6) bytes at `offset` of `bytes`: an address as a
 * netlink reply carries it, printed without copying it out.
 */
export function formatIPAt(family: Family, bytes: Uint8Array, offset = 0): string {
  return family === 4 ? formatIPv4(bytes, offset) : formatIPv6(bytes, offset);
}

/** Canonical text of a CIDR ("10.0.0.0/8", "2001:db8::/32"). */
export function formatCIDR(cidr: CIDR): string {
  return `${formatIP(cidr.bytes)}/${cidr.prefix}`;
}

/** Whether the CIDR covers its whole family (0.0.0.0/0, ::/0). */
export function isZeroCIDR(cidr: CIDR): boolean {
  return cidr.prefix === 0;
}

/** 127.0.0.0/8 or ::1. */
export function isLoopback(ip: IP): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** 169.254.0.0/16 or fe80::/10. */
export function isLinkLocalUnicast(ip: IP): boolean {
  if (ip.family === 4) return ip.bytes[0] === 169 && ip.bytes[1] === 254;
  return ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}

const OCTETS = Array.from({ length: 256 }, (_, i) => String(i));
// "10.244.1." by the first three bytes: real servers of a cluster share a few hundred /24s, so
// formatting an address is mostly one lookup and one concatenation. Bounded: a table of 2^16
// prefixes is about 3 MB; past that, prefixes are formatted each time.
const PREFIXES = new Map<number, string>();
const MAX_PREFIXES = 1 << 16;

function formatIPv4(bytes: Uint8Array, o: number): string {
  const a = bytes[o]!, b = bytes[o + 1]!, c = bytes[o + 2]!;
  const key = (a << 16) | (b << 8) | c;
  let prefix = PREFIXES.get(key);
  if (prefix === undefined) {
    prefix = `${a}.${b}.${c}.`;
    if (PREFIXES.size < MAX_PREFIXES) PREFIXES.set(key, prefix);
  }
  return prefix + OCTETS[bytes[o + 3]!];
}

/** The first longest run of two or more zero words: [start, length], or [-1, 0]. */
function longestZeroRun(w: readonly number[]): [number, number] {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  return best < 0 ? [-1, 0] : [best, bestLen];
}

/** RFC 5952, as glibc's inet_ntop writes it. */
function formatIPv6(bytes: Uint8Array, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((bytes[o + 2 * i]! << 8) | bytes[o + 2 * i + 1]!);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  const [best, bestLen] = longestZeroRun(w);
  // inet_ntop's IPv4 tail: ::a.b.c.d (IPv4-compatible) and ::ffff:a.b.c.d (IPv4-mapped).
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    return `::${bestLen === 5 ? "ffff:" : ""}${formatIPv4(bytes, o + 12)}`;
  }
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (s !== "" && !s.endsWith(":")) s += ":";
    s += w[i]!.toString(16);
  }
  return s;
}

/** Parses dotted IPv4 into `out[at..at+4]`, octets with leading zeros as decimal; no regex. */
function parseIPv4(text: string, out: Uint8Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let v = 0;
  for (let k = 0; k <= text.length; k++) {
    const c = k === text.length ? 46 : text.charCodeAt(k); // the end closes the last octet
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = v;
      digits = 0;
      v = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      v = v * 10 + c - 48;
      if (v > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** The 16-bit words of the groups of an IPv6 address; undefined when one is malformed. */
function ipv6Words(groups: readonly string[], v4Last: boolean): number[] | undefined {
  const words: number[] = [];
  const v4 = new Uint8Array(4);
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (v4Last && i === groups.length - 1 && g.includes(".")) {
      if (!parseIPv4(g, v4, 0)) return undefined;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      words.push(parseInt(g, 16));
    }
  }
  return words;
}

function parseIPv6(text: string, out: Uint8Array): Family | string {
  if (text.includes("%")) return `${NOT_IP}: zoned IPv6 addresses are not allowed`;
  const dbl = text.indexOf("::");
  if (dbl >= 0 && text.indexOf("::", dbl + 1) >= 0) return NOT_IP;
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const tail = dbl >= 0 ? text.slice(dbl + 2) : "";
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  // An embedded IPv4 address can only end the address, after any "::".
  const headWords = ipv6Words(headGroups, dbl < 0);
  const tailWords = ipv6Words(tailGroups, true);
  if (!headWords || !tailWords) return NOT_IP;
  const n = headWords.length + tailWords.length;
  if (dbl < 0 ? n !== 8 : n > 7) return NOT_IP;
  out.fill(0);
  headWords.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  tailWords.forEach((w, i) => {
    const at = 2 * (8 - tailWords.length + i);
    out[at] = w >> 8;
    out[at + 1] = w & 0xff;
  });
  if (isIPv4Mapped(out)) return `${NOT_IP}: IPv4-mapped IPv6 addresses are not allowed`;
  return 6;
}

function isIPv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
