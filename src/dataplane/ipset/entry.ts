/**
 * ipset entries written as text (`ipset save` output, `ipset add` arguments) read into typed
 * members (dataplane/members.ts), canonical: ipset 7.17 takes protocols in any case and a bare
 * port as tcp, prints IPv6 in RFC 5952 form and networks with host bits cleared, without the
 * prefix when it is a single host ("203.0.113.10,tcp:80,192.168.100.10" for a /32).
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import { parseCIDR, parseIP } from "../../net/ip.ts";
import { type SetMember, setMember, type SetProtocol } from "../members.ts";
import type { SetType } from "./sets.ts";

/** The outcome of {@link parseMember}: the member, or why the text is not one. */
export type ParsedMember = { member: SetMember; error?: undefined } | {
  member?: undefined;
  error: string;
};

const PROTOCOLS = new Set<string>(["tcp", "udp", "sctp"]);

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
function protoPort(text: string | undefined): { protocol: SetProtocol; port: number } | undefined {
  if (text === undefined) return undefined;
  const colon = text.indexOf(":");
  const protocol = colon < 0 ? "tcp" : text.slice(0, colon).toLowerCase();
  const p = port(colon < 0 ? text : text.slice(colon + 1));
  return PROTOCOLS.has(protocol) && p !== undefined
    ? { protocol: protocol as SetProtocol, port: p }
    : undefined;
}

/** Parses one entry of a set of `type` holding addresses of `family`, as ipset reads it. */
export function parseMember(type: SetType, family: Family, text: string): ParsedMember {
  const bad = (what: string): ParsedMember => ({
    error: `invalid ${type} entry "${text}": ${what}`,
  });
  const fam = family === 4 ? "IPv4" : "IPv6";
  if (type === "bitmap:port") {
    const p = port(text.replace(/^(tcp|udp|sctp):/i, ""));
    return p === undefined ? bad("not a port in 0-65535") : { member: setMember({ port: p }) };
  }
  // An IPv6 address has colons, so split on commas: ip[,proto:port[,ip2|net]].
  const parts = text.split(",");
  const ip = addr(parts[0], family);
  if (ip === undefined) return bad(`"${parts[0]}" is not an ${fam} address`);
  if (type === "hash:ip") {
    return parts.length === 1 ? { member: setMember({ ip }) } : bad("expected one address");
  }
  const pp = protoPort(parts[1]);
  if (pp === undefined) return bad(`"${parts[1] ?? ""}" is not protocol:port (tcp, udp, sctp)`);
  if (type === "hash:ip,port") {
    return parts.length === 2
      ? { member: setMember({ ip, ...pp }) }
      : bad("expected ip,proto:port");
  }
  if (parts.length !== 3) return bad(`expected three comma-separated parts`);
  if (type === "hash:ip,port,ip") {
    const ip2 = addr(parts[2], family);
    return ip2 === undefined
      ? bad(`"${parts[2]}" is not an ${fam} address`)
      : { member: setMember({ ip, ...pp, ip2 }) };
  }
  const netText = parts[2]!.includes("/") ? parts[2]! : `${parts[2]}/${family === 4 ? 32 : 128}`;
  const net = parseCIDR(netText);
  if (!net || net.family !== family) return bad(`"${parts[2]}" is not an ${fam} network`);
  if (net.prefix === 0) return bad("a network with prefix length 0 cannot be stored");
  return { member: setMember({ ip, ...pp, ip2: net.address, cidr2: net.prefix }) };
}

/** Like {@link parseMember}, but throws an `internal` KipvsError naming the set. */
export function memberOf(
  set: { name: string; type: SetType; family: Family },
  text: string,
): SetMember {
  const r = parseMember(set.type, set.family, text);
  if (r.error !== undefined) {
    throw new KipvsError("internal", `ipset ${set.name}: ${r.error}`, {
      details: { set: set.name, entry: text },
    });
  }
  return r.member;
}
