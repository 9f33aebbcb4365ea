/**
 * Runs inside the test guest (tests/kernel/nftables_test.ts) on a node with kipvs's nft tables:
 * adds one element of every set kind over netlink (NftNetlink), prints `nft list set` of each,
 * deletes them again, and prints the sets once more. An element the kernel refuses fails the
 * batch: the error is printed.
 */
import { NftNetlink } from "../../../src/dataplane/nftables/netlink.ts";
import type { ElementOp } from "../../../src/dataplane/nftables/netlink.ts";
import { member } from "../../dataplane/ipset/_ops.ts";

const nl = NftNetlink.open();
const ops: ElementOp[] = [
  {
    op: "add",
    family: 4,
    set: "cluster-ip",
    type: "hash:ip,port",
    member: member("10.96.9.9,sctp:9"),
  },
  { op: "add", family: 4, set: "ipvs-ips", type: "hash:ip", member: member("10.96.9.9") },
  { op: "add", family: 4, set: "node-port-udp", type: "bitmap:port", member: member("30999") },
  {
    op: "add",
    family: 4,
    set: "loop-back",
    type: "hash:ip,port,ip",
    member: member("10.244.9.9,udp:53,10.244.9.9"),
  },
  {
    op: "add",
    family: 4,
    set: "load-balancer-source-cidr",
    type: "hash:ip,port,net",
    member: member("203.0.113.99,tcp:443,10.128.0.0/9"),
  },
  {
    op: "add",
    family: 6,
    set: "load-balancer-source-cidr",
    type: "hash:ip,port,net",
    member: member("2001:db8::99,tcp:443,2001:db8:1::/48"),
  },
];
const list = async (family: 4 | 6, set: string) => {
  const out = await new Deno.Command("nft", {
    args: ["list", "set", family === 4 ? "ip" : "ip6", "kipvs", set],
  }).output();
  return new TextDecoder().decode(out.stdout).replace(/\s+/g, " ");
};
try {
  console.log(`transactions ${await nl.applyElements(ops)}`);
  for (const o of ops) console.log(`added ${o.family}/${o.set}: ${await list(o.family, o.set)}`);
  await nl.applyElements(ops.map((o) => ({ ...o, op: "delete" as const })));
  for (const o of ops) console.log(`deleted ${o.family}/${o.set}: ${await list(o.family, o.set)}`);
} catch (err) {
  console.log(`error ${err instanceof Error ? err.message : err}`);
}
nl.close();
