/**
 * IP and CIDR helpers the plan needs: parsing, the canonical text form (the one `ipset save`,
 * `ipvsadm -Sn` and Go's `net.IP.String()` print), containment, loopback and link-local tests.
 *
 * Private to src/proxy until src/k8s/ip.ts lands; then the two are merged and this file goes.
 *
 * @module
 */

import type { Family } from "./config.ts";

/** A parsed address: 4 bytes for IPv4, 16 for IPv6. */
export interface IP {
  family: Family;
  bytes: Uint8Array;
}

/** A parsed CIDR, with the host bits cleared. */
export interface CIDR {
  family: Family;
  /** The network address. */
  bytes: Uint8Array;
  prefix: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(text: string): Uint8Array | undefined {
  const m = V4.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // Leading zeros are read as decimal, as Kubernetes' ParseIPSloppy does.
    const n = Number(m[i + 1]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  if (text.includes("%")) return undefined; // zones never name a service address
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address; undefined when `text` is not one. */
export function parseIP(text: string): IP | undefined {
  if (text.includes(":")) {
    const bytes = parseV6(text);
    return bytes && { family: 6, bytes };
  }
  const bytes = parseV4(text);
  return bytes && { family: 4, bytes };
}

/**
 * The canonical text of an address, as glibc's inet_ntop writes it (RFC 5952 for IPv6: lower
 * case, no leading zeros, the first longest run of two or more zero groups as ::).
 */
export function formatIP(ip: IP): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // Longest run of two or more zero groups; the first one on a tie.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  // An IPv4 tail, as glibc's inet_ntop (hence ipset and ipvsadm) writes it: ::ffff:a.b.c.d
  // (IPv4-mapped) and ::a.b.c.d (IPv4-compatible: six zero groups, then anything).
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
    return `::${bestLen === 5 ? "ffff:" : ""}${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

const PLAIN_V4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The canonical text of an address; undefined when `text` is not one. */
export function canonicalIP(text: string): string | undefined {
  if (PLAIN_V4.test(text)) return text; // fast path: already canonical
  const ip = parseIP(text);
  return ip && formatIP(ip);
}

/** The family of an address; undefined when `text` is not one. */
export function ipFamily(text: string): Family | undefined {
  return parseIP(text)?.family;
}

/** Parses "addr/prefix" and clears the host bits ("10.1.2.3/8" is 10.0.0.0/8). */
export function parseCIDR(text: string): CIDR | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > ip.bytes.length * 8) return undefined;
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const i = bit >> 3;
    bytes[i] = bytes[i]! & ~(0x80 >> (bit & 7));
  }
  return { family: ip.family, bytes, prefix };
}

/** The canonical text of a CIDR ("10.0.0.0/8", "2001:db8::/32"). */
export function formatCIDR(cidr: CIDR): string {
  return `${formatIP(cidr)}/${cidr.prefix}`;
}

/** Whether `ip` lies inside `cidr` (never across families). */
export function cidrContains(cidr: CIDR, ip: IP): boolean {
  if (cidr.family !== ip.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.bytes[full]! & mask) === (ip.bytes[full]! & mask);
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

/** fe80::/10 (IPv6) or 169.254.0.0/16 (IPv4). */
export function isLinkLocalUnicast(ip: IP): boolean {
  if (ip.family === 4) return ip.bytes[0] === 169 && ip.bytes[1] === 254;
  return ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}
