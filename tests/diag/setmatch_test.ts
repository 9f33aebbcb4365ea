import assert from "node:assert/strict";
import { members } from "../dataplane/ipset/_ops.ts";
import type { KernelSet } from "../../src/dataplane/ipset/save.ts";
import { lookupSet, type SetPacket } from "../../src/diag/setmatch.ts";

const set = (type: string, ...entries: string[]): KernelSet => ({
  name: "S",
  type,
  options: { other: [] },
  members: members(...entries),
});
const packet: SetPacket = { protocol: "tcp", src: "10.244.1.2", dst: "10.96.0.10", dport: 80 };

Deno.test("lookupSet() builds hash:ip,port elements from the direction flags", () => {
  const s = set("hash:ip,port", "10.96.0.10,tcp:80", "10.244.1.2,tcp:80");
  assert.deepEqual(lookupSet(s, "S", "dst,dst", packet), {
    set: "S",
    element: "10.96.0.10,tcp:80",
    found: true,
  });
  // kube-proxy's "src,dst" rule: the node's packet that left with the VIP as source.
  assert.equal(lookupSet(s, "S", "src,dst", packet).element, "10.244.1.2,tcp:80");
  assert.equal(lookupSet(s, "S", "dst,dst", { ...packet, protocol: "udp" }).found, false);
});

Deno.test("lookupSet() matches hash:ip,port,ip exactly and hash:ip,port,net by containment", () => {
  const loop = set("hash:ip,port,ip", "10.96.0.10,tcp:80,10.244.1.2");
  assert.equal(lookupSet(loop, "S", "dst,dst,src", packet).found, true);
  assert.equal(lookupSet(loop, "S", "dst,dst,src", { ...packet, src: "10.244.1.3" }).found, false);
  const nets = set(
    "hash:ip,port,net",
    "10.96.0.10,tcp:80,10.244.0.0/16",
    "10.96.0.10,tcp:81,10.0.0.0/8",
  );
  assert.deepEqual(lookupSet(nets, "S", "dst,dst,src", packet), {
    set: "S",
    element: "10.96.0.10,tcp:80,10.244.1.2",
    found: true,
    entry: "10.96.0.10,tcp:80,10.244.0.0/16",
  });
  // ipset prints a host network without its prefix.
  const host = set("hash:ip,port,net", "10.96.0.10,tcp:80,10.244.1.2");
  assert.equal(lookupSet(host, "S", "dst,dst,src", packet).found, true);
  assert.equal(lookupSet(nets, "S", "dst,dst,src", { ...packet, dport: 82 }).found, false);
});

Deno.test("lookupSet() reads bitmap:port and hash:ip with one flag", () => {
  assert.deepEqual(
    lookupSet(set("bitmap:port", "30080"), "S", "dst", { ...packet, dport: 30080 }),
    {
      set: "S",
      element: "30080",
      found: true,
    },
  );
  assert.equal(lookupSet(set("hash:ip", "10.96.0.10"), "S", "dst", packet).found, true);
  assert.equal(lookupSet(set("hash:net", "10.96.0.0/12"), "S", "dst", packet).found, true);
});

Deno.test("lookupSet() cannot decide what needs the source port or an unknown type, and says why", () => {
  const r = lookupSet(set("hash:ip,port", "10.244.1.2,tcp:80"), "S", "src,src", packet);
  assert.equal(r.found, undefined);
  assert.match(r.why!, /source port/);
  assert.equal(lookupSet(set("hash:ip,mac"), "S", "src,src", packet).found, undefined);
  assert.deepEqual(lookupSet(undefined, "GONE", "dst", packet), {
    set: "GONE",
    element: "?",
    found: false,
    why: "set GONE does not exist",
  });
});
