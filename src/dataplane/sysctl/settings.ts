/**
 * The kernel settings kube-proxy's IPVS mode depends on, as data: which key, which value, when,
 * and why. {@link wantedSettings} is pure; reading and writing live in `procfs.ts`.
 *
 * @module
 */

/** One kernel setting kipvs cares about. */
export interface SysctlSetting {
  /** Dotted sysctl name, e.g. `net.ipv4.vs.conntrack`. */
  key: string;
  /** The value kipvs wants; undefined when the setting is deliberately left alone. */
  want: string | undefined;
  /** One line saying why. */
  reason: string;
  /** A kernel module that provides the key when its file is missing. */
  module?: string;
}

/** What decides the wanted settings. */
export interface SysctlOptions {
  /** `uname -r` of the running kernel, e.g. "6.1.176". */
  kernelRelease: string;
  /** Answer ARP only for addresses on the receiving interface (`--strict-arp`). */
  strictArp?: boolean;
  /** Serve node ports on 127.0.0.1 (`--localhost-nodeports`); needs route_localnet. */
  localhostNodePorts?: boolean;
}

/** Parses the leading "major.minor" of a kernel release; [0, 0] when it has none. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Whether `release` is at least `major.minor`. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
}

/** IPVS's own settings (from the ip_vs module). */
const IPVS_SETTINGS: readonly SysctlSetting[] = [
  {
    key: "net.ipv4.vs.conntrack",
    want: "1",
    reason: "keep conntrack entries for IPVS connections so iptables can masquerade them",
    module: "ip_vs",
  },
  {
    key: "net.ipv4.vs.expire_nodest_conn",
    want: "1",
    reason: "drop connections to a deleted real server at once instead of on timeout",
    module: "ip_vs",
  },
  {
    key: "net.ipv4.vs.expire_quiescent_template",
    want: "1",
    reason: "expire persistence templates of weight-0 real servers so affinity moves on",
    module: "ip_vs",
  },
];

/** Forwarding and bridged traffic. */
const FORWARD_SETTINGS: readonly SysctlSetting[] = [
  {
    key: "net.ipv4.ip_forward",
    want: "1",
    reason: "forward traffic from service addresses to pods",
  },
  {
    key: "net.bridge.bridge-nf-call-iptables",
    want: "1",
    reason: "let iptables see bridged pod traffic (masquerade, firewall)",
    module: "br_netfilter",
  },
];

/** --strict-arp. */
const STRICT_ARP_SETTINGS: readonly SysctlSetting[] = [
  {
    key: "net.ipv4.conf.all.arp_ignore",
    want: "1",
    reason: "--strict-arp: answer ARP only for addresses of the receiving interface",
  },
  {
    key: "net.ipv4.conf.all.arp_announce",
    want: "2",
    reason: "--strict-arp: never announce kube-ipvs0 addresses from other interfaces",
  },
];

/** --localhost-nodeports. */
const LOCALHOST_SETTING: SysctlSetting = {
  key: "net.ipv4.conf.all.route_localnet",
  want: "1",
  reason:
    "--localhost-nodeports: route 127.0.0.0/8 to node ports (with the CVE-2020-8558 drop rule)",
};

/** conn_reuse_mode: 0 only on kernels before 5.9, left alone after. */
function connReuseMode(release: string): SysctlSetting {
  const key = "net.ipv4.vs.conn_reuse_mode";
  if (kernelAtLeast(release, 5, 9)) {
    return {
      key,
      want: undefined,
      reason:
        `left alone on kernel ${release} (>= 5.9 fixed the 1 s reuse delay; 0 would send reused client ports to removed backends)`,
      module: "ip_vs",
    };
  }
  return {
    key,
    want: "0",
    reason: `kernel ${release} < 5.9 delays reused connections 1 s unless this is 0`,
    module: "ip_vs",
  };
}

/** The settings kipvs wants for these options, in a stable order. */
export function wantedSettings(opts: SysctlOptions): SysctlSetting[] {
  return [
    ...IPVS_SETTINGS,
    connReuseMode(opts.kernelRelease),
    ...FORWARD_SETTINGS,
    ...(opts.strictArp ? STRICT_ARP_SETTINGS : []),
    ...(opts.localhostNodePorts ? [LOCALHOST_SETTING] : []),
  ].map((s) => ({ ...s }));
}

/** The /proc/sys path of a dotted key: dots become slashes (dashes stay). */
export function sysctlPath(key: string, root = "/proc/sys"): string {
  return `${root}/${key.replaceAll(".", "/")}`;
}
