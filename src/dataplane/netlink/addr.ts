/**
 * IP addresses as netlink carries them: 4 bytes for IPv4, 16 for IPv6, in network byte order.
 * Formatting follows glibc's `inet_ntop` (RFC 5952 compression, embedded IPv4 for mapped
 * addresses), so kipvs prints addresses exactly as `ip` and `ipvsadm` do.
 *
 * @module
 */

/** An IP family, by version number. */
export type IpFamily = 4 | 6;

/** A parsed address. */
export interface IpBytes {
  family: IpFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

/** Parses dotted IPv4 into `out[at..at+4]`; no regex: this runs for every op of a batch. */
function parse4(s: string, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // a final "."
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // no leading zeros
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parse6(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  // An embedded IPv4 address takes the place of the last two groups.
  const all = [...head, ...tail];
  const last = all[all.length - 1];
  const v4 = last !== undefined && last.includes(".");
  if (v4 && halves.length === 2 && tail.length === 0) return undefined; // "1.2.3.4::"
  const words = all.length + (v4 ? 1 : 0);
  if (halves.length === 1 ? words !== 8 : words > 7) return undefined;
  const put = (list: string[], from: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i] as string;
      const at = (from + i) * 2;
      if (g.includes(".")) {
        if (i !== list.length - 1 || list !== (tail.length ? tail : head)) return false;
        if (!parse4(g, out, at)) return false;
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      const v = parseInt(g, 16);
      out[at] = v >> 8;
      out[at + 1] = v & 0xff;
    }
    return true;
  };
  if (!put(head, 0)) return undefined;
  const tailWords = tail.length + (v4 && tail.length ? 1 : 0);
  if (!put(tail, 8 - tailWords)) return undefined;
  return out;
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone); undefined when it is not one. */
export function parseIp(s: string): IpBytes | undefined {
  if (s.includes(":")) {
    const b = parse6(s);
    return b && { family: 6, bytes: b };
  }
  const b = new Uint8Array(4);
  return parse4(s, b, 0) ? { family: 4, bytes: b } : undefined;
}

const scratch = new Uint8Array(16);

/**
 * Parses an address into `out` (16 bytes: IPv4 in the first 4, the rest zeroed, as IPVS's
 * `union nf_inet_addr`) and returns its family, or undefined when it is not an address. No
 * allocation for IPv4: this runs for every op of a batch.
 */
export function parseIpInto(s: string, out: Uint8Array): IpFamily | undefined {
  if (s.includes(":")) {
    const b = parse6(s);
    if (!b) return undefined;
    out.set(b);
    return 6;
  }
  if (!parse4(s, out, 0)) return undefined;
  out.fill(0, 4, 16);
  return 4;
}

/** The family of an address, or undefined when it is not one. */
export function ipFamily(s: string): IpFamily | undefined {
  return parseIpInto(s, scratch);
}

const OCTETS = Array.from({ length: 256 }, (_, i) => String(i));
// "10.244.1." by the first three bytes: real servers of a cluster share a few hundred /24s, so
// formatting an address is mostly one lookup and one concatenation. Bounded: a table of 2^16
// prefixes is about 3 MB; past that, prefixes are formatted each time.
const PREFIXES = new Map<number, string>();
const MAX_PREFIXES = 1 << 16;

function format4(bytes: Uint8Array, o: number): string {
  const a = bytes[o] as number, b = bytes[o + 1] as number, c = bytes[o + 2] as number;
  const key = (a << 16) | (b << 8) | c;
  let prefix = PREFIXES.get(key);
  if (prefix === undefined) {
    prefix = `${a}.${b}.${c}.`;
    if (PREFIXES.size < MAX_PREFIXES) PREFIXES.set(key, prefix);
  }
  return prefix + OCTETS[bytes[o + 3] as number];
}

/** Formats 4 (IPv4) or 16 (IPv6) bytes starting at `offset` of `bytes`. */
export function formatIp(family: IpFamily, bytes: Uint8Array, offset = 0): string {
  if (family === 4) return format4(bytes, offset);
  const w: number[] = [];
  for (let i = 0; i < 8; i++) {
    w.push(((bytes[offset + 2 * i] as number) << 8) | (bytes[offset + 2 * i + 1] as number));
  }
  // The longest run of two or more zero words (the first one on a tie) becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // glibc prints ::a.b.c.d and ::ffff:a.b.c.d with the IPv4 part in dotted form.
  const v4tail = best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff));
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (v4tail && i === 6) {
      if (!s.endsWith(":")) s += ":";
      s += formatIp(4, bytes, offset + 12);
      break;
    }
    if (s !== "" && !s.endsWith(":")) s += ":";
    s += (w[i] as number).toString(16);
  }
  return s;
}

/** The canonical text of an address ("FD00:0::1" → "fd00::1"), or undefined when invalid. */
export function canonicalIp(s: string): string | undefined {
  const p = parseIp(s);
  return p && formatIp(p.family, p.bytes);
}
