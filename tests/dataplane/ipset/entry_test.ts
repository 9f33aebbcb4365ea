import assert from "node:assert/strict";
import { canonicalEntry, parseEntry } from "../../../src/dataplane/ipset/entry.ts";
import { KipvsError } from "../../../src/errors.ts";

Deno.test("parseEntry() gives the text ipset save prints, per set type", () => {
  const cases: [Parameters<typeof parseEntry>, string][] = [
    [["hash:ip", 4, "10.96.0.1"], "10.96.0.1"],
    [["hash:ip,port", 4, "10.96.0.1,TCP:443"], "10.96.0.1,tcp:443"],
    [["hash:ip,port", 4, "10.96.0.1,443"], "10.96.0.1,tcp:443"],
    [["hash:ip,port", 6, "fd00:0::1,udp:53"], "fd00::1,udp:53"],
    [["hash:ip,port,ip", 4, "10.244.1.2,tcp:8080,10.244.1.2"], "10.244.1.2,tcp:8080,10.244.1.2"],
    [["hash:ip,port,net", 4, "203.0.113.10,tcp:80,10.1.2.3/16"], "203.0.113.10,tcp:80,10.1.0.0/16"],
    [
      ["hash:ip,port,net", 4, "203.0.113.10,tcp:80,192.168.100.10/32"],
      "203.0.113.10,tcp:80,192.168.100.10",
    ],
    [["hash:ip,port,net", 6, "fd00::10,tcp:80,fd00:100::5/128"], "fd00::10,tcp:80,fd00:100::5"],
    [["hash:ip,port,net", 6, "fd00::10,sctp:80,fd00:100::/64"], "fd00::10,sctp:80,fd00:100::/64"],
    [["bitmap:port", 4, "30080"], "30080"],
    [["bitmap:port", 6, "tcp:30080"], "30080"],
  ];
  for (const [args, want] of cases) assert.deepEqual(parseEntry(...args), { entry: want }, args[2]);
});

Deno.test("parseEntry() rejects entries ipset would refuse, saying why", () => {
  const bad: Parameters<typeof parseEntry>[] = [
    ["hash:ip", 4, "fd00::1"],
    ["hash:ip,port", 4, "10.96.0.3,tcp:99999"],
    ["hash:ip,port", 4, "10.96.0.3,icmp:3"],
    ["hash:ip,port", 4, "10.96.0.3"],
    ["hash:ip,port,ip", 4, "10.244.1.2,tcp:8080"],
    ["hash:ip,port,net", 4, "203.0.113.10,tcp:80,0.0.0.0/0"],
    ["hash:ip,port,net", 6, "fd00::10,tcp:80,10.0.0.0/8"],
    ["bitmap:port", 4, "65536"],
  ];
  for (const args of bad) assert.ok(parseEntry(...args).error, args[2]);
  assert.match(parseEntry("hash:ip,port", 4, "10.96.0.3,tcp:99999").error!, /"tcp:99999"/);
});

Deno.test("canonicalEntry() throws an internal error naming the set and the entry", () => {
  assert.throws(
    () => canonicalEntry({ name: "KUBE-CLUSTER-IP", type: "hash:ip,port", family: 4 }, "x,tcp:1"),
    (e) =>
      e instanceof KipvsError && e.code === "internal" && /KUBE-CLUSTER-IP/.test(e.message) &&
      /"x,tcp:1"/.test(e.message),
  );
});
