/**
 * Parsing ipvsadm's rule lines (`ipvsadm -S` prints them, `ipvsadm -R` reads them) into IPVS
 * ops, for the benchmark (one rules file fed to both ipvsadm and kipvs) and the tests that
 * cross-check src/dataplane/ipvs/rules.ts. kipvs itself never reads rules as text.
 *
 * @module
 */

import { ipFamily, parseIP } from "../src/net/ip.ts";
import { KipvsError } from "../src/errors.ts";
import { prefixOfMask } from "../src/dataplane/ipvs/decode.ts";
import { SVC_F, TUN_F, TUN_TYPE } from "../src/dataplane/ipvs/constants.ts";
import {
  type Destination,
  type ForwardMethod,
  type IpvsOp,
  type IpvsProtocol,
  isFwmarkKey,
  type ServiceKey,
  type TunnelType,
} from "../src/dataplane/ipvs/types.ts";

const SCHED_FLAG_BITS: Record<string, number> = {
  "flag-1": SVC_F.SCHED1,
  "flag-2": SVC_F.SCHED2,
  "flag-3": SVC_F.SCHED3,
  "sh-fallback": SVC_F.SCHED1,
  "sh-port": SVC_F.SCHED2,
  "mh-fallback": SVC_F.SCHED1,
  "mh-port": SVC_F.SCHED2,
};

/** Parses ipvsadm rule lines (-A -E -D -a -e -d) into ops; throws invalid-config naming the line. */
export function parseRules(text: string): IpvsOp[] {
  const ops: IpvsOp[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      ops.push(parseRule(line));
    } catch (err) {
      throw new KipvsError(
        "invalid-config",
        `ipvsadm rules line ${i + 1} "${line}": ${(err as Error).message}`,
        { cause: err, details: { line: i + 1 } },
      );
    }
  }
  return ops;
}

/** Splits "10.0.0.1:80" or "[fd00::1]:80" (port optional). */
function hostPort(s: string): { address: string; port: number | undefined } {
  let address = s;
  let port: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new Error(`invalid address "${s}"`);
    address = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new Error(`invalid address "${s}"`);
    if (rest !== "") port = rest.slice(1);
  } else {
    const colon = s.indexOf(":");
    if (colon >= 0) {
      address = s.slice(0, colon);
      port = s.slice(colon + 1);
    }
  }
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new Error(`invalid port in "${s}"`);
  return { address, port: port === undefined ? undefined : Number(port) };
}

function num(flag: string, v: string | undefined): number {
  if (v === undefined || !/^-?\d+$/.test(v)) throw new Error(`${flag} needs a number, got "${v}"`);
  return Number(v);
}

// Options by name, to small numbers: one map lookup per token instead of a chain of string
// comparisons (parsing 100,000 lines is the bulk of a restore's own work).
const enum Opt {
  Tcp,
  Udp,
  Sctp,
  Fwmark,
  Ipv6,
  Scheduler,
  Persistent,
  Netmask,
  Ops,
  Pe,
  SchedFlags,
  Real,
  Masq,
  Gate,
  Ipip,
  Weight,
  Upper,
  Lower,
  TunType,
  TunPort,
  TunNoCsum,
  TunCsum,
  TunRemCsum,
}

const OPTIONS = new Map<string, Opt>([
  ["-t", Opt.Tcp],
  ["--tcp-service", Opt.Tcp],
  ["-u", Opt.Udp],
  ["--udp-service", Opt.Udp],
  ["--sctp-service", Opt.Sctp],
  ["-f", Opt.Fwmark],
  ["--fwmark-service", Opt.Fwmark],
  ["-6", Opt.Ipv6],
  ["--ipv6", Opt.Ipv6],
  ["-s", Opt.Scheduler],
  ["--scheduler", Opt.Scheduler],
  ["-p", Opt.Persistent],
  ["--persistent", Opt.Persistent],
  ["-M", Opt.Netmask],
  ["--netmask", Opt.Netmask],
  ["-o", Opt.Ops],
  ["--ops", Opt.Ops],
  ["--pe", Opt.Pe],
  ["-b", Opt.SchedFlags],
  ["--sched-flags", Opt.SchedFlags],
  ["-r", Opt.Real],
  ["--real-server", Opt.Real],
  ["-m", Opt.Masq],
  ["--masquerading", Opt.Masq],
  ["-g", Opt.Gate],
  ["--gatewaying", Opt.Gate],
  ["-i", Opt.Ipip],
  ["--ipip", Opt.Ipip],
  ["-w", Opt.Weight],
  ["--weight", Opt.Weight],
  ["-x", Opt.Upper],
  ["--u-threshold", Opt.Upper],
  ["-y", Opt.Lower],
  ["--l-threshold", Opt.Lower],
  ["--tun-type", Opt.TunType],
  ["--tun-port", Opt.TunPort],
  ["--tun-nocsum", Opt.TunNoCsum],
  ["--tun-csum", Opt.TunCsum],
  ["--tun-remcsum", Opt.TunRemCsum],
]);

/** Options that take a value. */
const WITH_VALUE = new Set<Opt>([
  Opt.Tcp,
  Opt.Udp,
  Opt.Sctp,
  Opt.Fwmark,
  Opt.Scheduler,
  Opt.Netmask,
  Opt.Pe,
  Opt.SchedFlags,
  Opt.Real,
  Opt.Weight,
  Opt.Upper,
  Opt.Lower,
  Opt.TunType,
  Opt.TunPort,
]);

type Cmd =
  | "add-service"
  | "update-service"
  | "delete-service"
  | "add-destination"
  | "update-destination"
  | "delete-destination";

const COMMANDS = new Map<string, Cmd>([
  ["-A", "add-service"],
  ["--add-service", "add-service"],
  ["-E", "update-service"],
  ["--edit-service", "update-service"],
  ["-D", "delete-service"],
  ["--delete-service", "delete-service"],
  ["-a", "add-destination"],
  ["--add-server", "add-destination"],
  ["-e", "update-destination"],
  ["--edit-server", "update-destination"],
  ["-d", "delete-destination"],
  ["--delete-server", "delete-destination"],
]);

/** Parses one rule line. */
export function parseRule(line: string): IpvsOp {
  const t = line.includes("  ") || line.includes("\t") ? line.split(/\s+/) : line.split(" ");
  const cmd = COMMANDS.get(t[0] ?? "");
  if (cmd === undefined) throw new Error(`unknown command "${t[0]}" (want -A -E -D -a -e -d)`);
  let proto: IpvsProtocol | undefined;
  let addr: string | undefined;
  let fwmark: number | undefined;
  let six = false;
  let scheduler = "wlc";
  let flags = 0;
  let timeout = 0;
  let netmask: string | undefined;
  let pe = "";
  let real: string | undefined;
  let forward: ForwardMethod = "droute";
  let weight = 1;
  let upper = 0;
  let lower = 0;
  let tunType: TunnelType | undefined;
  let tunPort = 0;
  let tunFlags = 0;
  for (let i = 1; i < t.length; i++) {
    const f = t[i] as string;
    const opt = OPTIONS.get(f);
    if (opt === undefined) throw new Error(`unknown option "${f}"`);
    let v = "";
    if (WITH_VALUE.has(opt)) {
      const next = t[++i];
      if (next === undefined) throw new Error(`${f} needs a value`);
      v = next;
    }
    switch (opt) {
      case Opt.Tcp:
        [proto, addr, fwmark] = ["TCP", v, undefined];
        break;
      case Opt.Udp:
        [proto, addr, fwmark] = ["UDP", v, undefined];
        break;
      case Opt.Sctp:
        [proto, addr, fwmark] = ["SCTP", v, undefined];
        break;
      case Opt.Fwmark:
        [proto, addr, fwmark] = [undefined, undefined, num(f, v)];
        break;
      case Opt.Ipv6:
        six = true;
        break;
      case Opt.Scheduler:
        scheduler = v;
        break;
      case Opt.Persistent: // the timeout is optional: 300 s without
        flags |= SVC_F.PERSISTENT;
        timeout = /^\d+$/.test(t[i + 1] ?? "") ? num(f, t[++i]) : 300;
        break;
      case Opt.Netmask:
        netmask = v;
        break;
      case Opt.Ops:
        flags |= SVC_F.ONEPACKET;
        break;
      case Opt.Pe:
        pe = v;
        break;
      case Opt.SchedFlags:
        for (const name of v.split(",")) {
          const bit = SCHED_FLAG_BITS[name];
          if (bit === undefined) throw new Error(`unknown scheduler flag "${name}"`);
          flags |= bit;
        }
        break;
      case Opt.Real:
        real = v;
        break;
      case Opt.Masq:
        forward = "masq";
        break;
      case Opt.Gate:
        forward = "droute";
        break;
      case Opt.Ipip:
        forward = "tunnel";
        break;
      case Opt.Weight:
        weight = num(f, v);
        break;
      case Opt.Upper:
        upper = num(f, v);
        break;
      case Opt.Lower:
        lower = num(f, v);
        break;
      case Opt.TunType:
        if (!(v in TUN_TYPE)) throw new Error(`unknown tunnel type "${v}"`);
        tunType = v as TunnelType;
        break;
      case Opt.TunPort:
        tunPort = num(f, v);
        break;
      case Opt.TunNoCsum:
        tunFlags = 0;
        break;
      case Opt.TunCsum:
        tunFlags = TUN_F.CSUM;
        break;
      case Opt.TunRemCsum:
        tunFlags = TUN_F.REMCSUM;
        break;
    }
  }

  let key: ServiceKey;
  if (fwmark !== undefined) {
    key = { family: six ? 6 : 4, fwmark };
  } else if (proto && addr) {
    const hp = hostPort(addr);
    const family = ipFamily(hp.address);
    if (!family) throw new Error(`invalid service address "${hp.address}"`);
    key = { family, protocol: proto, address: hp.address, port: hp.port ?? 0 };
  } else {
    throw new Error("no service (-t, -u, --sctp-service or -f)");
  }

  if (cmd === "add-service" || cmd === "update-service") {
    let bits = key.family === 4 ? 32 : 128;
    if (netmask !== undefined) {
      const m = parseIP(netmask);
      bits = m && m.family === 4
        ? prefixOfMask(new DataView(m.bytes.buffer).getUint32(0))
        : num("-M", netmask);
    }
    const service = { key, scheduler, flags, timeout, netmask: bits, persistenceEngine: pe };
    return { op: cmd, service };
  }
  if (cmd === "delete-service") return { op: cmd, key };

  if (real === undefined) throw new Error("no real server (-r)");
  const hp = hostPort(real);
  const family = ipFamily(hp.address);
  if (!family) throw new Error(`invalid real server address "${hp.address}"`);
  const port = hp.port ?? (isFwmarkKey(key) ? 0 : key.port);
  if (cmd === "delete-destination") {
    return { op: cmd, service: key, destination: { address: hp.address, port } };
  }
  const destination: Destination = {
    address: hp.address,
    port,
    family,
    forward,
    weight,
    upperThreshold: upper,
    lowerThreshold: lower,
  };
  if (forward === "tunnel" && tunType) {
    destination.tunnel = { type: tunType, port: tunPort, flags: tunFlags };
  }
  return { op: cmd, service: key, destination };
}
