import assert from "node:assert/strict";
import { beginIpvs, putDestination, putService } from "../../../src/dataplane/ipvs/codec.ts";
import {
  decodeDestination,
  decodeService,
  prefixOfMask,
} from "../../../src/dataplane/ipvs/decode.ts";
import { CMD, SVC_ATTR, SVC_F } from "../../../src/dataplane/ipvs/constants.ts";
import type { Destination, VirtualServer } from "../../../src/dataplane/ipvs/types.ts";
import { Attrs, messages } from "../../../src/dataplane/netlink/reader.ts";
import { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";
import { FWM, rs, TCP443, UDP6, vs } from "./_scenario.ts";

/** Encodes a NEW_SERVICE / NEW_DEST request and decodes it as the kernel's reply would be. */
function roundTrip(service: VirtualServer, dest?: Destination) {
  const w = new MessageWriter();
  beginIpvs(w, { family: 28, cmd: dest ? CMD.NEW_DEST : CMD.NEW_SERVICE, flags: 1, seq: 9 });
  putService(w, service.key, dest ? undefined : service);
  if (dest) putDestination(w, dest, true);
  w.end();
  const b = w.bytes();
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  const [m] = [...messages(view, b.length)];
  return { view, m: m!, bytes: b };
}

Deno.test("a service survives encode and decode: persistence, IPv4 netmask, flags", () => {
  const s = vs(TCP443, { scheduler: "wlc", flags: SVC_F.PERSISTENT, timeout: 600, netmask: 24 });
  const { view, m } = roundTrip(s);
  const { stats, ...back } = decodeService(view, m);
  assert.deepEqual(back, s);
  assert.equal(stats?.connections, 0);
});

Deno.test("putService() writes the IPv4 mask as address bytes and the port in network order", () => {
  const { view, m } = roundTrip(vs(TCP443, { flags: SVC_F.PERSISTENT, netmask: 24 }));
  const top = new Attrs(view, m.offset + 20, m.offset + m.length, 2);
  const svc = top.nested(1, SVC_ATTR.MAX)!;
  assert.deepEqual([...svc.bytes(SVC_ATTR.NETMASK)!], [255, 255, 255, 0]);
  assert.deepEqual([...svc.bytes(SVC_ATTR.PORT)!], [0x01, 0xbb]);
  assert.deepEqual([...svc.bytes(SVC_ATTR.ADDR)!.subarray(0, 5)], [10, 96, 0, 11, 0]);
  assert.deepEqual([...svc.bytes(SVC_ATTR.FLAGS)!], [1, 0, 0, 0, 255, 255, 255, 255]);
});

Deno.test("an IPv6 service keeps its prefix-length netmask and sh flags", () => {
  const s = vs(UDP6, { scheduler: "sh", flags: SVC_F.SCHED1 | SVC_F.SCHED2, netmask: 64 });
  const { view, m } = roundTrip(s);
  const { stats: _, ...back } = decodeService(view, m);
  assert.deepEqual(back, s);
});

Deno.test("a fwmark service is keyed by family and mark only", () => {
  const s = vs(FWM, { scheduler: "mh" });
  const { view, m } = roundTrip(s);
  const svc = new Attrs(view, m.offset + 20, m.offset + m.length, 2).nested(1, SVC_ATTR.MAX)!;
  assert.equal(svc.has(SVC_ATTR.ADDR), false);
  assert.equal(svc.has(SVC_ATTR.PROTOCOL), false);
  assert.deepEqual(decodeService(view, m).key, FWM);
});

Deno.test("decodeService() drops the kernel-internal HASHED flag", () => {
  const { view, m } = roundTrip(vs(TCP443, { flags: SVC_F.PERSISTENT, timeout: 60 }));
  // The kernel sets HASHED on every service it holds; put it into the "reply".
  const svc = new Attrs(view, m.offset + 20, m.offset + m.length, 2).nested(1, SVC_ATTR.MAX)!;
  const at = svc.offset(SVC_ATTR.FLAGS);
  view.setUint32(at, view.getUint32(at, true) | SVC_F.HASHED, true);
  assert.equal(svc.u32(SVC_ATTR.FLAGS), SVC_F.PERSISTENT | SVC_F.HASHED);
  assert.equal(decodeService(view, m).flags, SVC_F.PERSISTENT);
});

Deno.test("real servers survive encode and decode: forwarding, weights, thresholds, tunnel", () => {
  const cases: Destination[] = [
    rs("10.244.1.2", 8080),
    rs("10.244.1.3", 8080, {
      forward: "droute",
      weight: 7,
      upperThreshold: 100,
      lowerThreshold: 5,
    }),
    rs("10.244.1.4", 80, { forward: "tunnel", tunnel: { type: "gue", port: 6080, flags: 1 } }),
    rs("fd00:244::2", 5353, { weight: 0 }),
  ];
  for (const d of cases) {
    const { view, m } = roundTrip(vs(d.family === 6 ? UDP6 : TCP443), d);
    const { activeConnections, inactiveConnections, persistentConnections, stats, ...back } =
      decodeDestination(view, m, 4);
    assert.deepEqual(back, d);
    assert.equal(activeConnections + inactiveConnections + persistentConnections, 0);
    assert.equal(stats?.bytesIn, 0);
  }
});

Deno.test("prefixOfMask() counts the leading ones of an IPv4 mask", () => {
  assert.equal(prefixOfMask(0xffffffff), 32);
  assert.equal(prefixOfMask(0xffffff00), 24);
  assert.equal(prefixOfMask(0), 0);
  assert.equal(prefixOfMask(0x80000000), 1);
});
