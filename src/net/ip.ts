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
  if (text.includes(":")) return parseIPv6(text);
  const bytes = parseIPv4(text);
  if (bytes === undefined) return "not a valid IP address";
  return { family: 4, bytes, text: formatIPv4(bytes) };
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
function isCanonicalIPv4(text: string): boolean {
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

/** Canonical text of an address, or of its 4 or 16 bytes (as read from netlink, for instance). */
export function formatIP(ip: Uint8Array | IP): string {
  const bytes = ip instanceof Uint8Array ? ip : ip.bytes;
  if (bytes.length === 4) return formatIPv4(bytes);
  if (bytes.length === 16) return formatIPv6(bytes);
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
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

function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(":");
  // inet_ntop's IPv4 tail: ::a.b.c.d (IPv4-compatible) and ::ffff:a.b.c.d (IPv4-mapped).
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    return `::${bestLen === 5 ? "ffff:" : ""}${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let digits = 0;
  let v = 0;
  for (let k = 0; k <= text.length; k++) {
    const c = k === text.length ? 46 : text.charCodeAt(k); // the end closes the last octet
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = v;
      digits = 0;
      v = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      v = v * 10 + c - 48;
      if (v > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

function parseIPv6(text: string): ParsedIP | string {
  if (text.includes("%")) return "not a valid IP address: zoned IPv6 addresses are not allowed";
  const bad = "not a valid IP address";
  const dbl = text.indexOf("::");
  if (dbl >= 0 && text.indexOf("::", dbl + 1) >= 0) return bad;
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const tail = dbl >= 0 ? text.slice(dbl + 2) : "";
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const all = [...headGroups, ...tailGroups];
  // An embedded IPv4 address can only end the address, after any "::".
  const last = dbl >= 0 && tailGroups.length === 0 ? -1 : all.length - 1;
  let headWords = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    const before = words.length;
    if (i === last && g.includes(".")) {
      const v4 = parseIPv4(g);
      if (v4 === undefined) return bad;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return bad;
      words.push(parseInt(g, 16));
    }
    if (i < headGroups.length) headWords += words.length - before;
  }
  if (dbl < 0 ? words.length !== 8 : words.length > 7) return bad;
  const full = dbl < 0 ? words : [
    ...words.slice(0, headWords),
    ...new Array(8 - words.length).fill(0),
    ...words.slice(headWords),
  ];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = full[i]! >> 8;
    bytes[2 * i + 1] = full[i]! & 0xff;
  }
  if (isIPv4Mapped(bytes)) {
    return "not a valid IP address: IPv4-mapped IPv6 addresses are not allowed";
  }
  return { family: 6, bytes, text: formatIPv6(bytes) };
}

function isIPv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
