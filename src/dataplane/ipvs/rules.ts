/**
 * ipvsadm's rule syntax (`ipvsadm -S` prints it, `ipvsadm -R` reads it): render a table read
 * back as the lines `ipvsadm -Sn` prints. Tests cross-check the kernel through it and the
 * benchmark feeds one rules file to both programs (bench/ipvs_rules.ts parses such lines).
 *
 * @module
 */

import { SVC_F, TUN_F } from "./constants.ts";
import { destinationText } from "./describe.ts";
import {
  type Destination,
  type ForwardMethod,
  type IpvsProtocol,
  isFwmarkKey,
  type ServiceKey,
  type VirtualServer,
} from "./types.ts";

const PROTO_FLAG: Record<IpvsProtocol, string> = { TCP: "-t", UDP: "-u", SCTP: "--sctp-service" };
const FWD_FLAG: Record<ForwardMethod, string> = {
  masq: "-m",
  tunnel: "-i",
  droute: "-g",
  local: "-g",
  bypass: "-g",
};

/** "-t 10.96.0.10:80", "-u [fd00::a]:53", "-f 4660 -6". */
export function serviceSpec(key: ServiceKey): string {
  if (isFwmarkKey(key)) return `-f ${key.fwmark}${key.family === 6 ? " -6" : ""}`;
  return `${PROTO_FLAG[key.protocol]} ${destinationText(key)}`;
}

function schedFlags(s: VirtualServer): string {
  const names = s.scheduler === "sh" || s.scheduler === "mh"
    ? [`${s.scheduler}-fallback`, `${s.scheduler}-port`, "flag-3"]
    : ["flag-1", "flag-2", "flag-3"];
  const bits = [SVC_F.SCHED1, SVC_F.SCHED2, SVC_F.SCHED3];
  const on = names.filter((_, i) => s.flags & (bits[i] as number));
  return on.length ? ` -b ${on.join(",")}` : "";
}

function maskText(s: VirtualServer): string {
  if (s.key.family === 6) return String(s.netmask);
  const m = s.netmask === 0 ? 0 : (0xffff_ffff << (32 - s.netmask)) >>> 0;
  return [24, 16, 8, 0].map((b) => (m >>> b) & 0xff).join(".");
}

/** The `-A` line of a virtual server, as `ipvsadm -Sn` prints it. */
export function serviceRule(s: VirtualServer): string {
  let line = `-A ${serviceSpec(s.key)} -s ${s.scheduler}`;
  if (s.flags & SVC_F.PERSISTENT) {
    line += ` -p ${s.timeout}`;
    if (s.netmask !== (s.key.family === 4 ? 32 : 128)) line += ` -M ${maskText(s)}`;
  }
  if (s.persistenceEngine) line += ` --pe ${s.persistenceEngine}`;
  if (s.flags & SVC_F.ONEPACKET) line += " -o";
  return line + schedFlags(s);
}

/** The `-a` line of a real server, as `ipvsadm -Sn` prints it. */
export function destinationRule(key: ServiceKey, d: Destination): string {
  return destinationLine(serviceSpec(key), d);
}

// ipvsadm -S leaves thresholds out (they show in `ipvsadm -Ln --thresholds`); so does this.
function destinationLine(spec: string, d: Destination): string {
  const host = d.family === 6 ? `[${d.address}]` : d.address;
  const line = "-a " + spec + " -r " + host + ":" + d.port + " " + FWD_FLAG[d.forward] + " -w " +
    d.weight;
  return d.forward === "tunnel" ? line + tunnelOptions(d.tunnel) : line;
}

function tunnelOptions(t: Destination["tunnel"]): string {
  const type = t?.type ?? "ipip";
  if (type === "ipip" || !t) return " --tun-type ipip";
  const csum = t.flags & TUN_F.REMCSUM
    ? " --tun-remcsum"
    : t.flags & TUN_F.CSUM
    ? " --tun-csum"
    : " --tun-nocsum";
  return ` --tun-type ${type}${type === "gue" ? ` --tun-port ${t.port}` : ""}${csum}`;
}

/** A table as rule lines, services each followed by their real servers. */
export type RulesEntry = VirtualServer & { destinations: readonly Destination[] };

/**
 * Renders a table in chunks of about `chunkChars` characters, each a run of whole lines, so a
 * large table streams out without one huge string.
 */
export function* rulesChunks(
  entries: readonly RulesEntry[],
  chunkChars = 64 * 1024,
): Generator<string> {
  let out = "";
  for (const e of entries) {
    out += serviceRule(e) + "\n";
    const spec = serviceSpec(e.key);
    for (const d of e.destinations) out += destinationLine(spec, d) + "\n";
    if (out.length >= chunkChars) {
      yield out;
      out = "";
    }
  }
  if (out !== "") yield out;
}

/** Every line of a table, services each followed by their real servers. */
export function formatRules(entries: readonly RulesEntry[]): string {
  let out = "";
  for (const chunk of rulesChunks(entries)) out += chunk;
  return out;
}
