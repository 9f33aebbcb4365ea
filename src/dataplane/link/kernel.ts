/**
 * {@link DummyLink} over rtnetlink: a libnl socket, link and address requests written in
 * TypeScript, address changes sent in batches through {@link NetlinkClient}.
 *
 * @module
 */

import { formatIPAt, parseIP } from "../../net/ip.ts";
import { NetlinkClient, type NetlinkTransport } from "../netlink/client.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NETLINK_ROUTE,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLMSG_HDRLEN,
} from "../netlink/constants.ts";
import { ERRNO, netlinkErrno, netlinkError } from "../netlink/errno.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import {
  IFA,
  IFADDRMSG_LEN,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA,
  IFLA_INFO,
  RT_SCOPE_UNIVERSE,
  RTM,
} from "./constants.ts";
import { checkLinkName, failedAddress, notDummy } from "./describe.ts";
import {
  type AddressResult,
  DEFAULT_DUMMY_NAME,
  type DummyLink,
  type LinkAddress,
  type LinkState,
} from "./types.ts";

/** Options of {@link KernelDummyLink.open}. */
export interface KernelDummyLinkOptions {
  /** The link's name (default kube-ipvs0). */
  name?: string;
  /** Address requests per send (default 512). */
  maxPerSend?: number;
  /** Fewer requests per send when one keeps the kernel busier than this, ms (default 10). */
  sendBudgetMs?: number;
  /** A transport instead of a new socket (unit tests, captures). */
  transport?: NetlinkTransport;
  /** The first netlink sequence number (default random), for replays. */
  firstSeq?: number;
}

function putIfinfo(w: MessageWriter, index = 0): void {
  const at = w.header(IFINFOMSG_LEN);
  w.view.setUint8(at, AF_UNSPEC);
  w.view.setInt32(at + 4, index, true);
}

/** The dummy link of the network namespace the process is in when {@link open} runs. */
export class KernelDummyLink implements DummyLink {
  readonly name: string;
  #c: NetlinkClient;
  /** A socket of its own with strict checking, for the node's addresses (made when needed). */
  #strict?: NetlinkClient;
  #transport?: NetlinkTransport;

  private constructor(name: string, c: NetlinkClient, transport?: NetlinkTransport) {
    this.name = name;
    this.#c = c;
    this.#transport = transport;
  }

  /** Opens a route netlink socket for the link named in `options` (default kube-ipvs0). */
  static open(options: KernelDummyLinkOptions = {}): KernelDummyLink {
    const name = options.name ?? DEFAULT_DUMMY_NAME;
    checkLinkName(name);
    const c = new NetlinkClient({
      protocol: NETLINK_ROUTE,
      maxPerSend: options.maxPerSend,
      sendBudgetMs: options.sendBudgetMs,
      transport: options.transport,
      firstSeq: options.firstSeq,
    });
    return new KernelDummyLink(name, c, options.transport);
  }

  get messagesSent(): number {
    const strict = this.#strict === this.#c ? 0 : this.#strict?.messagesSent ?? 0;
    return this.#c.messagesSent + strict;
  }

  get(): Promise<LinkState | undefined> {
    return this.#get();
  }

  async ensure(): Promise<LinkState> {
    const have = await this.#get();
    if (have) {
      if (have.kind !== "dummy") throw notDummy(this.name, have.kind);
      return have;
    }
    const what = `create dummy link ${this.name}`;
    const [errno] = await this.#c.exchange([0], (w, _i, flags, seq) => {
      // like: ip link add kube-ipvs0 type dummy
      w.begin(RTM.NEWLINK, flags | NLM_F_CREATE | NLM_F_EXCL, seq);
      putIfinfo(w);
      w.string(IFLA.IFNAME, this.name);
      const info = w.nestStart(IFLA.LINKINFO);
      w.string(IFLA_INFO.KIND, "dummy");
      w.nestEnd(info);
      w.end();
    }, what);
    // EEXIST: someone created it since we looked; what it is decides below.
    if (errno && errno !== ERRNO.EEXIST) {
      throw netlinkError({
        what,
        errno,
        hint: errno === ERRNO.EOPNOTSUPP ? "the dummy module is not in this kernel" : undefined,
      });
    }
    const now = await this.#get();
    if (!now) {
      throw netlinkError({ what, errno: ERRNO.ENODEV, hint: "gone right after creation" });
    }
    if (now.kind !== "dummy") throw notDummy(this.name, now.kind);
    return now;
  }

  async listAddresses(): Promise<string[]> {
    const link = await this.#get();
    if (!link) return [];
    const c = this.#strictClient();
    const out: string[] = [];
    await c.dump(
      // like: ip addr show dev kube-ipvs0 (with strict checking the kernel dumps this link's
      // addresses alone; else it dumps all and we keep the link's)
      (w, flags, seq) => putAddrDump(w, flags, seq, c.socket.strictChecking ? link.index : 0),
      `list addresses of ${this.name}`,
      (view, m) => {
        const a = decodeAddress(view, m);
        if (a?.index === link.index) out.push(a.address);
      },
    );
    return out;
  }

  addAddresses(addresses: readonly string[]): Promise<AddressResult[]> {
    return this.#addresses("add", addresses);
  }

  deleteAddresses(addresses: readonly string[]): Promise<AddressResult[]> {
    return this.#addresses("delete", addresses);
  }

  async delete(): Promise<boolean> {
    const link = await this.#get();
    if (!link) return false;
    if (link.kind !== "dummy") throw notDummy(this.name, link.kind);
    const what = `delete link ${this.name}`;
    const [errno] = await this.#c.exchange([0], (w, _i, flags, seq) => {
      // like: ip link del kube-ipvs0
      w.begin(RTM.DELLINK, flags, seq);
      putIfinfo(w, link.index);
      w.end();
    }, what);
    if (errno === ERRNO.ENODEV) return false;
    if (errno) throw netlinkError({ what, errno });
    return true;
  }

  /**
   * Read with netlink rather than `Deno.networkInterfaces()`, which lists this link's addresses
   * too (one per service address: 52,500 at 50,000 services, seconds in a small VM, for every
   * full sync). With strict checking (Linux 4.20+) the kernel dumps each other link's addresses
   * alone; without it, one dump of all is read and this link's are skipped.
   */
  async nodeAddresses(): Promise<LinkAddress[]> {
    const c = this.#strictClient();
    const links = await this.#links(c);
    const others = links.filter((l) => l.name !== this.name);
    const byIndex = new Map(others.map((l) => [l.index, l.name]));
    const out: LinkAddress[] = [];
    const take = (view: DataView, m: MessageRef) => {
      const a = decodeAddress(view, m);
      const name = a && byIndex.get(a.index);
      if (a && name !== undefined) out.push({ name, address: a.address, family: a.family });
    };
    if (!c.socket.strictChecking) {
      // like: ip -o addr show (everything; this link's addresses skipped)
      await c.dump((w, flags, seq) => putAddrDump(w, flags, seq, 0), "list addresses", take);
      return out;
    }
    await c.dumpEach(others, (w, l, flags, seq) => putAddrDump(w, flags, seq, l.index), {
      // like: ip -o addr show dev $link, for every link but this one
      what: (l) => `list addresses of ${l.name}`,
      onMessage: (_i, view, m) => take(view, m),
    });
    return out;
  }

  close(): void {
    this.#c.close();
    if (this.#strict !== this.#c) this.#strict?.close();
  }

  /** The socket with strict checking (when the kernel grants it), opened on first use. */
  #strictClient(): NetlinkClient {
    // A given transport (tests, captures) serves both: it is strict or not as it was opened.
    return this.#strict ??= this.#transport ? this.#c : new NetlinkClient({
      protocol: NETLINK_ROUTE,
      strictChecking: true,
    });
  }

  /** Every link's name and index (like: ip -o link show). */
  async #links(c: NetlinkClient): Promise<{ name: string; index: number }[]> {
    const out: { name: string; index: number }[] = [];
    await c.dump(
      (w, flags, seq) => {
        w.begin(RTM.GETLINK, flags, seq);
        putIfinfo(w);
        w.end();
      },
      "list links",
      (view, m) => {
        const l = decodeLink(view, m);
        out.push({ name: l.name, index: l.index });
      },
    );
    return out;
  }

  async #get(): Promise<LinkState | undefined> {
    try {
      return await this.#c.request(
        (w, flags, seq) => {
          // like: ip -d link show kube-ipvs0
          w.begin(RTM.GETLINK, flags, seq);
          putIfinfo(w);
          w.string(IFLA.IFNAME, this.name);
          w.end();
        },
        `get link ${this.name}`,
        (view, m) => decodeLink(view, m),
      );
    } catch (err) {
      if (netlinkErrno(err) === ERRNO.ENODEV) return undefined;
      throw err;
    }
  }

  async #addresses(
    kind: "add" | "delete",
    addresses: readonly string[],
  ): Promise<AddressResult[]> {
    const link = await this.#get();
    const results: AddressResult[] = new Array(addresses.length);
    const valid: { i: number; family: 4 | 6; bytes: Uint8Array }[] = [];
    for (let i = 0; i < addresses.length; i++) {
      const address = addresses[i] as string;
      const p = parseIP(address);
      if (!p) {
        results[i] = failedAddress({
          kind,
          address,
          link: this.name,
          errno: ERRNO.EINVAL,
          hint: `invalid IP address "${address}"`,
        });
      } else if (!link) {
        results[i] = failedAddress({ kind, address, link: this.name, errno: ERRNO.ENODEV });
      } else {
        valid.push({ i, ...p });
      }
    }
    if (!link) return results;
    const type = kind === "add" ? RTM.NEWADDR : RTM.DELADDR;
    const errnos = await this.#c.exchange(valid, (w, a, flags, seq) => {
      // like: ip addr add 10.96.0.10/32 dev kube-ipvs0
      w.begin(type, kind === "add" ? flags | NLM_F_CREATE | NLM_F_EXCL : flags, seq);
      const at = w.header(IFADDRMSG_LEN);
      w.view.setUint8(at, a.family === 6 ? AF_INET6 : AF_INET);
      w.view.setUint8(at + 1, a.family === 6 ? 128 : 32);
      w.view.setUint8(at + 3, RT_SCOPE_UNIVERSE);
      w.view.setUint32(at + 4, link.index, true);
      w.bytesAttr(IFA.LOCAL, a.bytes);
      w.bytesAttr(IFA.ADDRESS, a.bytes);
      w.end();
    }, `${kind} addresses of ${this.name}`);
    for (let k = 0; k < valid.length; k++) {
      const { i } = valid[k] as { i: number };
      const address = addresses[i] as string;
      const errno = errnos[k] as number;
      results[i] = errno === 0
        ? { ok: true, address }
        : failedAddress({ kind, address, link: this.name, errno });
    }
    return results;
  }
}

/** An address dump request; `index` (not 0) names the one link a strict socket dumps. */
function putAddrDump(w: MessageWriter, flags: number, seq: number, index: number): void {
  w.begin(RTM.GETADDR, flags, seq);
  const at = w.header(IFADDRMSG_LEN);
  w.view.setUint32(at + 4, index, true);
  w.end();
}

/** One address of an RTM_NEWADDR message, canonical, with its link's index. */
function decodeAddress(
  view: DataView,
  m: MessageRef,
): { index: number; family: "IPv4" | "IPv6"; address: string } | undefined {
  const at = m.offset + NLMSG_HDRLEN;
  const family = view.getUint8(at) === AF_INET6 ? 6 : view.getUint8(at) === AF_INET ? 4 : 0;
  if (family === 0) return undefined;
  const a = new Attrs(view, at + IFADDRMSG_LEN, m.offset + m.length, IFA.MAX);
  const o = a.offset(a.has(IFA.LOCAL) ? IFA.LOCAL : IFA.ADDRESS);
  if (o < 0) return undefined;
  return {
    index: view.getUint32(at + 4, true),
    family: family === 6 ? "IPv6" : "IPv4",
    address: formatIPAt(family, new Uint8Array(view.buffer, view.byteOffset), o),
  };
}

function decodeLink(view: DataView, m: MessageRef): LinkState {
  const at = m.offset + NLMSG_HDRLEN;
  const a = new Attrs(view, at + IFINFOMSG_LEN, m.offset + m.length, IFLA.MAX);
  return {
    name: a.string(IFLA.IFNAME),
    index: view.getInt32(at + 4, true),
    kind: a.nested(IFLA.LINKINFO, IFLA_INFO.MAX)?.string(IFLA_INFO.KIND) ?? "",
    up: (view.getUint32(at + 8, true) & IFF_UP) !== 0,
  };
}
