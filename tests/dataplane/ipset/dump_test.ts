/**
 * Reading an IPSET_CMD_SAVE dump. The kernel's messages below are written by hand from the
 * uapi layouts (see codec_test.ts for the conventions): nfgenmsg, PROTOCOL, SETNAME, then a
 * header (TYPENAME 3, REVISION 4, FAMILY 5, DATA 7 with HASHSIZE 18, MAXELEM 19, BUCKETSIZE 21,
 * INITVAL 17 or PORT 4 / PORT_TO 5) and/or entries (ADT 8 holding DATA nests).
 */
import { setMember } from "../../../src/dataplane/members.ts";
import assert from "node:assert/strict";
import { SaveDecoder } from "../../../src/dataplane/ipset/dump.ts";
import { FakeIpset } from "./fake.ts";
import { NetlinkIpset } from "../../../src/dataplane/ipset/netlink.ts";
import { IpsetModel } from "./model.ts";
import { messages } from "../../../src/dataplane/netlink/reader.ts";
import { ScriptedKernel } from "../netlink/_transport.ts";

const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
const field = (fields: [string, string][]) => fields.map(([, h]) => h.replace(/ /g, "")).join("");

/** The payload (after nlmsghdr) of one dump message of set "S". */
const payload = (fields: [string, string][]) =>
  unhex(
    field([
      ["nfgenmsg", "02 00 0000"],
      ["PROTOCOL 7", "0500 0100 07 000000"],
      ["SETNAME S\\0, pad 2", "0600 0200 5300 0000"],
      ...fields,
    ]),
  );

const NET_HEADER: [string, string][] = [
  [
    "TYPENAME len 21 hash:ip,port,net\\0, pad 3",
    "1500 0300 686173683a69702c706f72742c6e657400 000000",
  ],
  ["REVISION 8", "0500 0400 08 000000"],
  ["FAMILY inet", "0500 0500 02 000000"],
  ["DATA len 36 NESTED", "2400 0780"],
  ["  HASHSIZE 1024", "0800 1240 00000400"],
  ["  MAXELEM 65536", "0800 1340 00010000"],
  ["  BUCKETSIZE 12", "0500 1500 0c 000000"],
  ["  INITVAL 0x8c30c262", "0800 1140 8c30c262"],
];

/** One hash:ip,port,net entry 203.0.113.10,tcp:80,NET/CIDR (52 bytes). */
const netEntry = (net: string, cidr: string): [string, string][] => [
  ["  DATA len 52 NESTED", "3400 0780"],
  ["    IP", "0c00 0180"],
  ["      IPV4 203.0.113.10", "0800 0140 cb00710a"],
  ["    PORT 80", "0600 0440 0050 0000"],
  ["    PROTO tcp", "0500 0700 06 000000"],
  ["    IP2", "0c00 1480"],
  ["      IPV4", `0800 0140 ${net}`],
  ["    CIDR2", `0500 1500 ${cidr} 000000`],
];

function decode(payloads: Uint8Array[]): SaveDecoder {
  const d = new SaveDecoder();
  for (const p of payloads) {
    const b = new Uint8Array(16 + p.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, b.length, true);
    v.setUint16(4, 0x0607, true); // IPSET_CMD_LIST, as the kernel tags dump messages
    b.set(p, 16);
    for (const m of messages(v, b.length)) d.take(v, m);
  }
  return d;
}

Deno.test("SaveDecoder reads a header and typed members split over two messages", () => {
  const d = decode([
    payload([
      ...NET_HEADER,
      ["ADT len 56 NESTED", "3800 0880"],
      ...netEntry("0a000000", "08"),
    ]),
    payload([["ADT len 56", "3800 0880"], ...netEntry("c0a8640a", "20")]),
  ]);
  assert.equal(d.unsupported, undefined);
  assert.deepStrictEqual(d.sets.get("S"), {
    name: "S",
    type: "hash:ip,port,net",
    options: {
      family: 4,
      hashsize: 1024,
      maxelem: 65536,
      other: ["bucketsize 12", "initval 0x8c30c262"],
    },
    members: new Map([
      [
        "203.0.113.10,tcp:80,10.0.0.0/8",
        setMember({
          ip: "203.0.113.10",
          protocol: "tcp",
          port: 80,
          ip2: "10.0.0.0",
          cidr2: 8,
        }),
      ],
      [
        "203.0.113.10,tcp:80,192.168.100.10",
        setMember({
          ip: "203.0.113.10",
          protocol: "tcp",
          port: 80,
          ip2: "192.168.100.10",
          cidr2: 32,
        }),
      ],
    ]),
  });
});

Deno.test("SaveDecoder reads a bitmap:port set's range and ports", () => {
  const d = decode([payload([
    ["TYPENAME len 16 bitmap:port\\0", "1000 0300 6269746d61703a706f727400"],
    ["REVISION 3", "0500 0400 03 000000"],
    ["FAMILY unspec", "0500 0500 00 000000"],
    ["DATA len 20", "1400 0780"],
    ["  PORT 0", "0600 0440 0000 0000"],
    ["  PORT_TO 65535", "0600 0540 ffff 0000"],
    ["ADT len 28", "1c00 0880"],
    ["  DATA len 12", "0c00 0780"],
    ["    PORT 30080", "0600 0440 7580 0000"],
    ["  DATA len 12", "0c00 0780"],
    ["    PORT 53", "0600 0440 0035 0000"],
  ])]);
  const s = d.sets.get("S")!;
  assert.deepEqual(s.options, { range: [0, 65535], other: [] });
  assert.deepEqual([...s.members.values()], [setMember({ port: 30080 }), setMember({ port: 53 })]);
});

Deno.test("SaveDecoder leaves to ipset save a type, protocol or extension it does not decode", () => {
  const foreign = decode([payload([
    ["TYPENAME len 13 hash:net\\0, pad 3", "0d00 0300 686173683a6e657400 000000"],
  ])]);
  assert.match(foreign.unsupported!, /set "S" is of type hash:net/);
  const icmp = [...netEntry("0a000000", "08")];
  icmp[4] = ["    PROTO icmp", "0500 0700 01 000000"];
  const proto = decode([payload([...NET_HEADER, ["ADT len 56", "3800 0880"], ...icmp])]);
  assert.match(proto.unsupported!, /protocol other than tcp, udp, sctp/);
  const timeout = decode([payload([
    ...NET_HEADER.slice(0, 3),
    ["DATA len 12", "0c00 0780"],
    ["  TIMEOUT 30", "0800 0640 0000001e"],
  ])]);
  assert.match(timeout.unsupported!, /extensions/);
});

Deno.test("NetlinkIpset.save() decodes the dump, and asks the program when it cannot", async () => {
  let answer: Uint8Array[] = [];
  const kernel: ScriptedKernel = new ScriptedKernel({
    handle: (m) => {
      // The protocol question at open: answer 7 / min 6.
      const r = unhex(field([
        ["nlmsghdr len 36 type 0x0601", "24000000 0106 0000"],
        [
          "seq",
          new Uint8Array(new Uint32Array([m.seq]).buffer).reduce(
            (s, x) => s + x.toString(16).padStart(2, "0"),
            "",
          ),
        ],
        ["pid", "00000000"],
        ["nfgenmsg", "02 00 0000"],
        ["PROTOCOL 7", "0500 0100 07 000000"],
        ["PROTOCOL_MIN 6", "0500 0a00 06 000000"],
      ]));
      kernel.inject(r);
      return 0;
    },
    dump: () => answer,
  });
  const program = new FakeIpset(new IpsetModel());
  const ipset = await NetlinkIpset.open({ program, transport: kernel });
  answer = [payload([...NET_HEADER, ["ADT len 56", "3800 0880"], ...netEntry("0a000000", "08")])];
  const snap = await ipset.save();
  assert.deepEqual([...snap.get("S")!.members.keys()], ["203.0.113.10,tcp:80,10.0.0.0/8"]);
  assert.deepEqual([program.saves, ipset.savedByProgram], [0, 0]);
  answer = [payload([["TYPENAME hash:net", "0d00 0300 686173683a6e657400 000000"]])];
  assert.deepEqual(await ipset.save(), new Map());
  assert.deepEqual([program.saves, ipset.savedByProgram], [1, 1]);
});
