import assert from "node:assert/strict";
import { NetlinkConntrack } from "../../../src/dataplane/conntrack/netlink.ts";
import { ScriptedKernel } from "../netlink/_transport.ts";

// Attributes as the kernel writes them: length, type (NLA_F_NESTED on nests), payload, padding.
function attr(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.length;
  const out = new Uint8Array((len + 3) & ~3);
  new DataView(out.buffer).setUint16(0, len, true);
  new DataView(out.buffer).setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};
const nest = (type: number, ...kids: Uint8Array[]) => attr(type | 0x8000, cat(...kids));
const ip4 = (s: string) => Uint8Array.from(s.split(".").map(Number));
const be16 = (n: number) => Uint8Array.of(n >> 8, n & 255);
const be32 = (n: number) => Uint8Array.of(n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255);

/** A tuple nest: CTA_TUPLE_IP {V4_SRC, V4_DST}, CTA_TUPLE_PROTO {NUM, SRC_PORT, DST_PORT}. */
function tuple(
  type: number,
  proto: number,
  src: string,
  sport: number,
  dst: string,
  dport: number,
) {
  return nest(
    type,
    nest(1, attr(1, ip4(src)), attr(2, ip4(dst))),
    nest(2, attr(1, Uint8Array.of(proto)), attr(2, be16(sport)), attr(3, be16(dport))),
  );
}

/** One dump answer's payload: struct nfgenmsg (AF_INET), both tuples, CTA_ID. */
function entry(
  o: { proto: number; client: string; vip: string; port: number; ep: string; id: number },
) {
  return cat(
    Uint8Array.of(2, 0, 0, 0),
    tuple(1, o.proto, o.client, 40000, o.vip, o.port),
    tuple(2, o.proto, o.ep, 5353, o.client, 40000),
    attr(12, be32(o.id)),
  );
}

Deno.test("NetlinkConntrack deletes the UDP entries of a flow by their original tuple and id, in one send", async () => {
  const stale = entry({
    proto: 17,
    client: "10.0.0.5",
    vip: "10.96.0.53",
    port: 53,
    ep: "10.244.1.3",
    id: 7,
  });
  const entries = [
    stale,
    entry({ proto: 17, client: "10.0.0.5", vip: "10.96.0.53", port: 53, ep: "10.244.1.2", id: 8 }),
    entry({ proto: 6, client: "10.0.0.5", vip: "10.96.0.53", port: 53, ep: "10.244.1.3", id: 9 }),
    entry({ proto: 17, client: "10.0.0.6", vip: "10.96.0.53", port: 53, ep: "10.244.1.3", id: 10 }),
  ];
  const deletes: Uint8Array[] = [];
  const kernel = new ScriptedKernel({
    dump: (m) => (m.type === (1 << 8 | 1) ? entries : 22),
    handle: (m) => {
      if (m.type !== (1 << 8 | 2)) return 22;
      deletes.push(m.payload.slice());
      return deletes.length === 2 ? 2 : 0; // the second is gone already (ENOENT): no failure
    },
  });
  const warnings: string[] = [];
  const ct = await NetlinkConntrack.open({
    logger: { warn: (m) => warnings.push(m) },
    transport: kernel,
    probe: false,
    firstSeq: 1,
  });
  const failed = await ct.clearUdp([{ vip: "10.96.0.53", port: 53, endpoint: "10.244.1.3" }]);
  assert.equal(failed, 0);
  assert.equal(deletes.length, 2, "the two UDP entries toward 10.244.1.3, not the TCP one");
  // nfgenmsg, then the original tuple and the id exactly as the dump gave them.
  const want = cat(Uint8Array.of(2, 0, 0, 0), stale.subarray(4, 4 + 52), stale.subarray(-8));
  assert.deepEqual(deletes[0], want);
  assert.equal(ct.deleted, 1);
  assert.deepEqual(warnings, []);
  assert.equal(kernel.sends.at(-1), 2, "both deletes in one send");
});

Deno.test("NetlinkConntrack counts and says a delete the kernel refuses", async () => {
  const kernel = new ScriptedKernel({
    dump: () => [
      entry({
        proto: 17,
        client: "10.0.0.5",
        vip: "10.96.0.53",
        port: 53,
        ep: "10.244.1.3",
        id: 1,
      }),
    ],
    handle: () => 1, // EPERM
  });
  const warnings: string[] = [];
  const ct = await NetlinkConntrack.open({
    logger: { warn: (m) => warnings.push(m) },
    transport: kernel,
    probe: false,
  });
  assert.equal(await ct.clearUdp([{ vip: "10.96.0.53", port: 53, endpoint: "10.244.1.3" }]), 1);
  assert.deepEqual(warnings, ["cannot delete a stale UDP conntrack entry"]);
  assert.equal(await ct.clearUdp([]), 0, "no flow: no dump");
});
