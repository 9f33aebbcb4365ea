/**
 * The packet `kipvs explain` traces: `<tcp|udp|sctp>/<ip>:<port>` (IPv6 in brackets) and an
 * optional source address.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import { parseIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";

/** A destination to trace. */
export interface ExplainTarget {
  protocol: "TCP" | "UDP" | "SCTP";
  family: Family;
  /** Canonical. */
  address: string;
  port: number;
}

const FORM = "<tcp|udp|sctp>/<ip>:<port> (IPv6 as [addr]:port)";

/** Parses "tcp/10.96.0.10:80", "udp/[fd00::10]:53"; throws `usage` naming the text. */
export function parseTarget(text: string): ExplainTarget {
  const bad = (why: string): never => {
    throw new KipvsError("usage", `invalid target "${text}": ${why}; expected ${FORM}`, {
      details: { value: text },
    });
  };
  const m = /^([A-Za-z]+)\/(?:\[([^\]]+)\]|([^:/[\]]+)):([^:]*)$/.exec(text.trim());
  if (!m && /^[A-Za-z]+\/[^[]*:.*:/.test(text)) return bad("write an IPv6 address in brackets");
  if (!m) return bad("not protocol/address:port");
  const protocol = m[1]!.toUpperCase();
  if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "SCTP") {
    return bad(`unknown protocol "${m[1]}"`);
  }
  const host = (m[2] ?? m[3])!;
  const ip = parseIP(host);
  if (!ip) return bad(`"${host}" is not an IP address`);
  const portText = m[4]!;
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return bad(`port "${portText}" is not 1-65535`);
  }
  return { protocol, family: ip.family, address: ip.text, port };
}

/** Parses `--from`; throws `usage` when it is no address or not of the target's family. */
export function parseSource(text: string, family: Family): string {
  const ip = parseIP(text);
  if (!ip) throw new KipvsError("usage", `--from: "${text}" is not an IP address`);
  if (ip.family !== family) {
    throw new KipvsError(
      "usage",
      `--from: ${ip.text} is IPv${ip.family} but the target is IPv${family}`,
    );
  }
  return ip.text;
}

/** "TCP/10.96.0.10:80", "UDP/[fd00::10]:53". */
export function targetText(t: ExplainTarget): string {
  return `${t.protocol}/${t.family === 6 ? `[${t.address}]` : t.address}:${t.port}`;
}
