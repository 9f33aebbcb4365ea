import assert from "node:assert/strict";
import { parseIptablesSave } from "../../src/dataplane/iptables/save.ts";
import type { MatchContext, TracePacket } from "../../src/diag/match.ts";
import { applyMark, walkHook } from "../../src/diag/walk.ts";

const ctx: MatchContext = { local: new Set(["192.168.1.10"]), ipsets: new Map(), bridged: false };
const packet: TracePacket = {
  family: 4,
  protocol: "tcp",
  src: "192.0.2.7",
  dst: "192.168.1.10",
  dport: 80,
  mark: 0,
  ctstate: new Set(["NEW"]),
};

function table(text: string) {
  return parseIptablesSave(`*filter\n${text.trim()}\nCOMMIT\n`).get("filter");
}

Deno.test("walkHook() follows jumps and RETURN and ends in the built-in chain's policy", () => {
  const t = table(`
:INPUT DROP [0:0]
:A - [0:0]
-A INPUT -j A
-A A -s 192.0.2.0/24 -j RETURN
-A A -j ACCEPT
`);
  const r = walkHook({ table: t, tableName: "filter", chain: "INPUT", packet, ctx });
  assert.equal(r.verdict, "DROP");
  assert.equal(r.target, "policy DROP");
  assert.deepEqual(r.steps.map((s) => [s.chain, s.result, s.action ?? ""]), [
    ["INPUT", "match", "jump A"],
    ["A", "match", "RETURN"],
    ["INPUT", "match", "DROP"],
  ]);
});

Deno.test("walkHook() returns from a -g goto to the caller's caller, and a terminal target ends the table", () => {
  const t = table(`
:INPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -j A
-A INPUT -p tcp -j REJECT --reject-with icmp-port-unreachable
-A A -g B
-A A -j DROP
-A B -p udp -j ACCEPT
`);
  const r = walkHook({ table: t, tableName: "filter", chain: "INPUT", packet, ctx });
  assert.equal(r.verdict, "REJECT");
  assert.deepEqual(r.steps.map((s) => `${s.chain} ${s.result}`), [
    "INPUT match",
    "A match",
    "B no",
    "INPUT match",
  ]);
  assert.equal(r.decidedBy?.rule, "-A INPUT -p tcp -j REJECT --reject-with icmp-port-unreachable");
});

Deno.test("walkHook() applies MARK as it goes, so later mark matches see it", () => {
  const t = parseIptablesSave(`*nat
:POSTROUTING ACCEPT [0:0]
:M - [0:0]
-A POSTROUTING -j M
-A POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A POSTROUTING -j MASQUERADE
-A M -m addrtype --dst-type LOCAL -j MARK --set-xmark 0x4000/0x4000
COMMIT
`).get("nat");
  const r = walkHook({ table: t, tableName: "nat", chain: "POSTROUTING", packet, ctx });
  assert.equal(r.verdict, "NAT");
  assert.equal(r.target, "MASQUERADE");
  assert.equal(r.packet.mark, 0x4000);
  const remote = walkHook({
    table: t,
    tableName: "nat",
    chain: "POSTROUTING",
    packet: { ...packet, dst: "192.0.2.8" },
    ctx,
  });
  assert.equal(remote.target, "policy ACCEPT", "unmarked: RETURN, then the policy");
});

Deno.test("walkHook() on a table the kernel has not loaded lets the packet pass without steps", () => {
  const r = walkHook({ table: undefined, tableName: "nat", chain: "OUTPUT", packet, ctx });
  assert.deepEqual([r.verdict, r.steps.length], ["ACCEPT", 0]);
});

Deno.test("applyMark() clears the mask's bits, then xors the value in (--set-xmark)", () => {
  assert.equal(applyMark(0, ["--set-xmark", "0x4000/0x4000"]), 0x4000);
  assert.equal(applyMark(0x4001, ["--set-xmark", "0x4000/0x0"]), 0x0001, "kube-proxy's clear");
  assert.equal(applyMark(0x4000, ["--set-xmark", "0x0/0x4000"]), 0);
  assert.equal(applyMark(7, ["--log-prefix", "x"]), 7);
});
