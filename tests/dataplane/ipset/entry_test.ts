import assert from "node:assert/strict";
import { memberOf, parseMember } from "../../../src/dataplane/ipset/entry.ts";
import { memberMisfit, setMember } from "../../../src/dataplane/members.ts";
import { KipvsError } from "../../../src/errors.ts";

Deno.test("parseMember() gives a member whose key is the text ipset save prints, per set type", () => {
  const cases: [Parameters<typeof parseMember>, string][] = [
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
  for (const [args, want] of cases) {
    const m = parseMember(...args).member!;
    assert.equal(m.key, want, args[2]);
    assert.equal(memberMisfit(args[0], args[1], m), undefined, args[2]);
  }
});

Deno.test("parseMember() types each dimension of the entry", () => {
  assert.deepEqual(
    parseMember("hash:ip,port,net", 6, "FD00::10,SCTP:80,fd00:100::1/64").member,
    setMember({ ip: "fd00::10", protocol: "sctp", port: 80, ip2: "fd00:100::", cidr2: 64 }),
  );
  assert.deepEqual(parseMember("bitmap:port", 4, "udp:53").member, setMember({ port: 53 }));
});

Deno.test("memberMisfit() says why a member does not fit a set", () => {
  const ipPort = setMember({ ip: "10.96.0.1", protocol: "tcp", port: 443 });
  assert.equal(memberMisfit("hash:ip,port", 4, ipPort), undefined);
  assert.match(memberMisfit("hash:ip,port", 6, ipPort)!, /not an IPv6 address/);
  assert.match(memberMisfit("hash:ip", 4, ipPort)!, /one address/);
  assert.match(memberMisfit("hash:ip,port,ip", 4, ipPort)!, /not an IPv4 address/);
  assert.match(memberMisfit("bitmap:port", 4, ipPort)!, /a port/);
  const net = setMember({ ...ipPort, ip2: "10.0.0.0", cidr2: 0 });
  assert.match(memberMisfit("hash:ip,port,net", 4, net)!, /prefix length 0/);
});

Deno.test("parseMember() rejects entries ipset would refuse, saying why", () => {
  const bad: Parameters<typeof parseMember>[] = [
    ["hash:ip", 4, "fd00::1"],
    ["hash:ip,port", 4, "10.96.0.3,tcp:99999"],
    ["hash:ip,port", 4, "10.96.0.3,icmp:3"],
    ["hash:ip,port", 4, "10.96.0.3"],
    ["hash:ip,port,ip", 4, "10.244.1.2,tcp:8080"],
    ["hash:ip,port,net", 4, "203.0.113.10,tcp:80,0.0.0.0/0"],
    ["hash:ip,port,net", 6, "fd00::10,tcp:80,10.0.0.0/8"],
    ["bitmap:port", 4, "65536"],
  ];
  for (const args of bad) assert.ok(parseMember(...args).error, args[2]);
  assert.match(parseMember("hash:ip,port", 4, "10.96.0.3,tcp:99999").error!, /"tcp:99999"/);
});

Deno.test("memberOf() throws an internal error naming the set and the entry", () => {
  assert.throws(
    () => memberOf({ name: "KUBE-CLUSTER-IP", type: "hash:ip,port", family: 4 }, "x,tcp:1"),
    (e) =>
      e instanceof KipvsError && e.code === "internal" && /KUBE-CLUSTER-IP/.test(e.message) &&
      /"x,tcp:1"/.test(e.message),
  );
});
