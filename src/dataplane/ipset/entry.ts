/**
 * ipset entries in the exact text `ipset save` prints, so that desired and kernel entries compare
 * as strings. Measured on ipset 7.17: protocols in lower case with the port after a colon
 * ("10.96.0.1,tcp:443"), IPv6 in RFC 5952 form, networks with host bits cleared and without the
 * prefix when it is a single host ("203.0.113.10,tcp:80,192.168.100.10" for a /32), bitmap:port
 * entries as bare port numbers.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import { parseCIDR, parseIP } from "../../net/ip.ts";
import type { SetType } from "./sets.ts";

/** The outcome of {@link parseEntry}: the canonical text, or why the entry is invalid. */
export type ParsedEntry = { entry: string; error?: undefined } | {
  entry?: undefined;
  error: string;
};

const PROTOCOLS = new Set(["tcp", "udp", "sctp"]);

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function addr(text: string | undefined, family: Family): string | undefined {
  const ip = text === undefined ? undefined : parseIP(text);
  return ip?.family === family ? ip.text : undefined;
}

// "proto:port" or a bare port (ipset reads it as tcp).
function protoPort(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const colon = text.indexOf(":");
  const proto = colon < 0 ? "tcp" : text.slice(0, colon).toLowerCase();
  const p = port(colon < 0 ? text : text.slice(colon + 1));
  return PROTOCOLS.has(proto) && p !== undefined ? `${proto}:${p}` : undefined;
}

/**
 * Parses one entry of a set of `type` holding addresses of `family` and returns the text
 * `ipset save` would print for it.
 */
export function parseEntry(type: SetType, family: Family, text: string): ParsedEntry {
  const bad = (what: string): ParsedEntry => ({
    error: `invalid ${type} entry "${text}": ${what}`,
  });
  const fam = family === 4 ? "IPv4" : "IPv6";
  if (type === "bitmap:port") {
    const p = port(text.replace(/^(tcp|udp|sctp):/i, ""));
    return p === undefined ? bad("not a port in 0-65535") : { entry: String(p) };
  }
  // An IPv6 address has colons, so split on commas: ip[,proto:port[,ip2|net]].
  const parts = text.split(",");
  const ip = addr(parts[0], family);
  if (ip === undefined) return bad(`"${parts[0]}" is not an ${fam} address`);
  if (type === "hash:ip") return parts.length === 1 ? { entry: ip } : bad("expected one address");
  const pp = protoPort(parts[1]);
  if (pp === undefined) return bad(`"${parts[1] ?? ""}" is not protocol:port (tcp, udp, sctp)`);
  if (type === "hash:ip,port") {
    return parts.length === 2 ? { entry: `${ip},${pp}` } : bad("expected ip,proto:port");
  }
  if (parts.length !== 3) return bad(`expected three comma-separated parts`);
  if (type === "hash:ip,port,ip") {
    const ip2 = addr(parts[2], family);
    return ip2 === undefined
      ? bad(`"${parts[2]}" is not an ${fam} address`)
      : { entry: `${ip},${pp},${ip2}` };
  }
  // ipset prints a host network (/32, /128) as a bare address.
  const netText = parts[2]!.includes("/") ? parts[2]! : `${parts[2]}/${family === 4 ? 32 : 128}`;
  const net = parseCIDR(netText);
  if (!net || net.family !== family) {
    return bad(`"${parts[2]}" is not an ${fam} network`);
  }
  if (net.prefix === 0) return bad("a network with prefix length 0 cannot be stored");
  const host = net.prefix === net.bytes.length * 8;
  return { entry: `${ip},${pp},${net.address}${host ? "" : `/${net.prefix}`}` };
}

/** Like {@link parseEntry}, but throws an `internal` KipvsError naming the set. */
export function canonicalEntry(
  set: { name: string; type: SetType; family: Family },
  text: string,
): string {
  const r = parseEntry(set.type, set.family, text);
  if (r.error !== undefined) {
    throw new KipvsError("internal", `ipset ${set.name}: ${r.error}`, {
      details: { set: set.name, entry: text },
    });
  }
  return r.entry;
}
