/**
 * The bytes of ipset requests. The expected messages below were written by hand, field by
 * field, from the layouts in the uapi headers, not produced by the code under test:
 *
 * - `struct nlmsghdr`: len u32, type u16 (NFNL_SUBSYS_IPSET 6 << 8 | cmd: ADD 0x0609, DEL
 *   0x060a, CREATE 0x0602), flags u16 (NLM_F_REQUEST 1), seq u32, pid u32; little-endian.
 * - `struct nfgenmsg`: family u8 (AF_INET 2, as the ipset program writes), version u8 (0),
 *   res_id be16 (0).
 * - `struct nlattr`: len u16 (header 4 + payload, before padding), type u16; payload padded to
 *   4. Type bits: NLA_F_NESTED 0x8000, NLA_F_NET_BYTEORDER 0x4000.
 * - ip_set.h numbers: PROTOCOL 1 (u8, 7), SETNAME 2 (string with NUL), TYPENAME 3, REVISION 4,
 *   FAMILY 5, DATA 7 (nested); inside DATA: IP 1 (nested), CIDR 3, PORT 4, PORT_TO 5, PROTO 7,
 *   HASHSIZE 18, MAXELEM 19, IP2 20 (nested), CIDR2 21; inside IP/IP2: IPADDR_IPV4 1,
 *   IPADDR_IPV6 2. Ports, addresses and create sizes big-endian with NET_BYTEORDER set.
 *
 * Each expected message is a list of [field, hex] pairs so that a difference points at a field.
 */
import assert from "node:assert/strict";
import {
  beginIpset,
  decodeHeader,
  decodeProtocol,
  decodeTypeRevisions,
  putCreate,
  putMember,
  type SetShape,
} from "../../../src/dataplane/ipset/codec.ts";
import { parseMember } from "../../../src/dataplane/ipset/entry.ts";
import { setMember } from "../../../src/dataplane/members.ts";
import { IPSET_CMD } from "../../../src/dataplane/ipset/constants.ts";
import { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";
import { messages } from "../../../src/dataplane/netlink/reader.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

/** Concatenates annotated hex fields (spaces ignored). */
const bytes = (fields: [string, string][]) => fields.map(([, h]) => h.replace(/ /g, "")).join("");

/** An ADD or DEL of the member `entry` to `set` with sequence 1, as NetlinkIpset writes it. */
function encodeEntry(cmd: number, set: string, shape: SetShape, entry: string): string {
  const w = new MessageWriter();
  beginIpset(w, { cmd, flags: 1, seq: 1, protocol: 7 });
  w.string(2, set);
  const member = parseMember(shape.type, shape.family, entry).member!;
  assert.equal(putMember(w, member), true, entry);
  w.end();
  return hex(w.bytes());
}

/** The common head of every message: nfgenmsg, PROTOCOL 7. */
const NFGEN: [string, string] = ["nfgenmsg AF_INET v0 res 0", "02 00 0000"];
const PROTO7: [string, string] = ["PROTOCOL len 5 type 1 = 7, pad", "0500 0100 07 000000"];
// "KUBE-CLUSTER-IP" is 15 bytes + NUL = 16: attribute length 20.
const CLUSTER_IP: [string, string] = [
  "SETNAME len 20 type 2 KUBE-CLUSTER-IP\\0",
  "1400 0200 4b5542452d434c55535445522d495000",
];

Deno.test("add to hash:ip,port: 10.96.0.1,tcp:443 as hand-derived bytes", () => {
  const want = bytes([
    [
      "nlmsghdr len 80 type 0x0609 flags REQUEST seq 1 pid 0",
      "50000000 0906 0100 01000000 00000000",
    ],
    NFGEN,
    PROTO7,
    CLUSTER_IP,
    ["DATA len 32 type 7|NESTED", "2000 0780"],
    ["  IP len 12 type 1|NESTED", "0c00 0180"],
    ["    IPV4 len 8 type 1|NET_BYTEORDER 10.96.0.1", "0800 0140 0a600001"],
    ["  PORT len 6 type 4|NET_BYTEORDER 443, pad", "0600 0440 01bb 0000"],
    ["  PROTO len 5 type 7 tcp=6, pad", "0500 0700 06 000000"],
  ]);
  assert.equal(
    encodeEntry(
      IPSET_CMD.ADD,
      "KUBE-CLUSTER-IP",
      { type: "hash:ip,port", family: 4 },
      "10.96.0.1,tcp:443",
    ),
    want,
  );
});

Deno.test("del from hash:ip (IPv6): fd00:96::1 as hand-derived bytes", () => {
  // "KUBE-6-IPVS-IPS": 15 bytes + NUL.
  const want = bytes([
    ["nlmsghdr len 76 type 0x060a flags REQUEST seq 1", "4c000000 0a06 0100 01000000 00000000"],
    NFGEN,
    PROTO7,
    ["SETNAME len 20 KUBE-6-IPVS-IPS\\0", "1400 0200 4b5542452d362d495056532d49505300"],
    ["DATA len 28 type 7|NESTED", "1c00 0780"],
    ["  IP len 24 type 1|NESTED", "1800 0180"],
    ["    IPV6 len 20 type 2|NET_BYTEORDER", "1400 0240 fd000096000000000000000000000001"],
  ]);
  assert.equal(
    encodeEntry(IPSET_CMD.DEL, "KUBE-6-IPVS-IPS", { type: "hash:ip", family: 6 }, "fd00:96::1"),
    want,
  );
});

Deno.test("add to hash:ip,port,ip: 10.244.1.2,udp:53,10.244.1.2 as hand-derived bytes", () => {
  // "KUBE-LOOP-BACK": 14 bytes + NUL = 15, attribute length 19, padded to 20.
  const want = bytes([
    ["nlmsghdr len 92 type 0x0609", "5c000000 0906 0100 01000000 00000000"],
    NFGEN,
    PROTO7,
    ["SETNAME len 19 KUBE-LOOP-BACK\\0, pad 1", "1300 0200 4b5542452d4c4f4f502d4241434b00 00"],
    ["DATA len 44", "2c00 0780"],
    ["  IP len 12", "0c00 0180"],
    ["    IPV4 10.244.1.2", "0800 0140 0af40102"],
    ["  PORT 53", "0600 0440 0035 0000"],
    ["  PROTO udp=17", "0500 0700 11 000000"],
    ["  IP2 len 12 type 20|NESTED", "0c00 1480"],
    ["    IPV4 10.244.1.2", "0800 0140 0af40102"],
  ]);
  assert.equal(
    encodeEntry(
      IPSET_CMD.ADD,
      "KUBE-LOOP-BACK",
      { type: "hash:ip,port,ip", family: 4 },
      "10.244.1.2,udp:53,10.244.1.2",
    ),
    want,
  );
});

Deno.test("add to hash:ip,port,net: a /8 and a host network as hand-derived bytes", () => {
  // "KUBE-LOAD-BALANCER-SOURCE-CIDR": 30 bytes + NUL = 31, attribute length 35, padded to 36.
  const name = "4b5542452d4c4f41442d42414c414e4345522d534f555243452d4349445200 00";
  const head = (len: string): [string, string][] => [
    ["nlmsghdr len 116 type 0x0609", `${len} 0906 0100 01000000 00000000`],
    NFGEN,
    PROTO7,
    ["SETNAME len 35, pad 1", `2300 0200 ${name}`],
    ["DATA len 52", "3400 0780"],
    ["  IP len 12", "0c00 0180"],
    ["    IPV4 203.0.113.10", "0800 0140 cb00710a"],
    ["  PORT 80", "0600 0440 0050 0000"],
    ["  PROTO sctp=132", "0500 0700 84 000000"],
    ["  IP2 len 12", "0c00 1480"],
  ];
  const shape: SetShape = { type: "hash:ip,port,net", family: 4 };
  const set = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
  assert.equal(
    encodeEntry(IPSET_CMD.ADD, set, shape, "203.0.113.10,sctp:80,10.0.0.0/8"),
    bytes([
      ...head("74000000"),
      ["    IPV4 10.0.0.0", "0800 0140 0a000000"],
      ["  CIDR2 len 5 type 21 = 8", "0500 1500 08 000000"],
    ]),
  );
  assert.equal(
    encodeEntry(IPSET_CMD.ADD, set, shape, "203.0.113.10,sctp:80,192.168.100.10"),
    bytes([
      ...head("74000000"),
      ["    IPV4 192.168.100.10", "0800 0140 c0a8640a"],
      ["  CIDR2 = 32 (a host)", "0500 1500 20 000000"],
    ]),
  );
});

Deno.test("add to bitmap:port: 30080 as hand-derived bytes", () => {
  // "KUBE-NODE-PORT-TCP": 18 bytes + NUL = 19, attribute length 23, padded to 24.
  const want = bytes([
    ["nlmsghdr len 64 type 0x0609", "40000000 0906 0100 01000000 00000000"],
    NFGEN,
    PROTO7,
    ["SETNAME len 23, pad 1", "1700 0200 4b5542452d4e4f44452d504f52542d54435000 00"],
    ["DATA len 12", "0c00 0780"],
    ["  PORT len 6 type 4|NET_BYTEORDER 30080 = 0x7580", "0600 0440 7580 0000"],
  ]);
  assert.equal(
    encodeEntry(IPSET_CMD.ADD, "KUBE-NODE-PORT-TCP", { type: "bitmap:port", family: 4 }, "30080"),
    want,
  );
});

Deno.test("create of a hash set and of a bitmap:port set as hand-derived bytes", () => {
  const create = (set: string, o: Parameters<typeof putCreate>[1], revision: number) => {
    const w = new MessageWriter();
    beginIpset(w, { cmd: IPSET_CMD.CREATE, flags: 1, seq: 1, protocol: 7 });
    w.string(2, set);
    putCreate(w, o, revision);
    w.end();
    return hex(w.bytes());
  };
  assert.equal(
    create(
      "KUBE-CLUSTER-IP",
      { type: "hash:ip,port", family: 6, hashsize: 1024, maxelem: 65536 },
      6,
    ),
    bytes([
      ["nlmsghdr len 104 type 0x0602", "68000000 0206 0100 01000000 00000000"],
      NFGEN,
      PROTO7,
      CLUSTER_IP,
      ["TYPENAME len 17 hash:ip,port\\0, pad 3", "1100 0300 686173683a69702c706f727400 000000"],
      ["REVISION 6", "0500 0400 06 000000"],
      ["FAMILY NFPROTO_IPV6=10", "0500 0500 0a 000000"],
      ["DATA len 20", "1400 0780"],
      ["  HASHSIZE type 18|NET_BYTEORDER 1024", "0800 1240 00000400"],
      ["  MAXELEM type 19|NET_BYTEORDER 65536", "0800 1340 00010000"],
    ]),
  );
  assert.equal(
    create("KUBE-NODE-PORT-TCP", { type: "bitmap:port", range: [0, 65535] }, 3),
    bytes([
      ["nlmsghdr len 104 type 0x0602", "68000000 0206 0100 01000000 00000000"],
      NFGEN,
      PROTO7,
      ["SETNAME len 23, pad 1", "1700 0200 4b5542452d4e4f44452d504f52542d54435000 00"],
      ["TYPENAME len 16 bitmap:port\\0", "1000 0300 6269746d61703a706f727400"],
      ["REVISION 3", "0500 0400 03 000000"],
      ["FAMILY NFPROTO_UNSPEC=0", "0500 0500 00 000000"],
      ["DATA len 20", "1400 0780"],
      ["  PORT type 4|NET_BYTEORDER 0", "0600 0440 0000 0000"],
      ["  PORT_TO type 5|NET_BYTEORDER 65535", "0600 0540 ffff 0000"],
    ]),
  );
});

Deno.test("putMember() refuses a member whose address does not parse", () => {
  const w = new MessageWriter();
  assert.equal(putMember(w, setMember({ ip: "10.0.0.1", protocol: "tcp", port: 1 })), true);
  assert.equal(putMember(w, setMember({ ip: "nope" })), false);
  assert.equal(
    putMember(w, setMember({ ip: "10.0.0.1", protocol: "tcp", port: 1, ip2: "x" })),
    false,
  );
});

Deno.test("replies: protocol, type revisions and a set's header decode from kernel bytes", () => {
  // The kernel's answers as hand-derived bytes: nlmsghdr, nfgenmsg, then attributes.
  const decode = <T>(fields: [string, string][], f: (v: DataView, m: never) => T): T => {
    const b = unhex(bytes(fields));
    new DataView(b.buffer).setUint32(0, b.length, true);
    const view = new DataView(b.buffer);
    const [m] = [...messages(view, b.length)];
    return f(view, m as never);
  };
  const nlh: [string, string] = ["nlmsghdr (len patched)", "00000000 0106 0000 01000000 00000000"];
  assert.deepEqual(
    decode([nlh, NFGEN, PROTO7, ["PROTOCOL_MIN 6", "0500 0a00 06 000000"]], decodeProtocol),
    { max: 7, min: 6 },
  );
  assert.deepEqual(
    decode([
      nlh,
      NFGEN,
      PROTO7,
      ["TYPENAME hash:ip\\0", "0c00 0300 686173683a697000"],
      ["FAMILY 2", "0500 0500 02 000000"],
      ["REVISION 6", "0500 0400 06 000000"],
      ["REVISION_MIN 0", "0500 0a00 00 000000"],
    ], decodeTypeRevisions),
    { max: 6, min: 0 },
  );
  assert.deepEqual(
    decode([
      nlh,
      NFGEN,
      PROTO7,
      CLUSTER_IP,
      ["TYPENAME hash:ip,port\\0", "1100 0300 686173683a69702c706f727400 000000"],
      ["REVISION 6", "0500 0400 06 000000"],
      ["FAMILY 10", "0500 0500 0a 000000"],
    ], decodeHeader),
    { type: "hash:ip,port", family: 10 },
  );
});
