// The plan's IP helpers: parsing, canonical text (what ipset save and ipvsadm -Sn print), CIDRs.
import assert from "node:assert/strict";
import {
  canonicalIP,
  cidrContains,
  formatCIDR,
  isLinkLocalUnicast,
  isLoopback,
  parseCIDR,
  parseIP,
} from "../../src/net/ip.ts";

Deno.test("canonicalIP() writes addresses as inet_ntop does and leaves plain IPv4 alone", () => {
  const cases: [string, string | undefined][] = [
    ["10.96.0.1", "10.96.0.1"],
    ["010.096.000.001", "10.96.0.1"],
    ["FD00:0:0::10", "fd00::10"],
    ["fd00:0096:0000:0000:0000:0000:0000:0010", "fd00:96::10"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["::ffff:a01:203", undefined], // IPv4-mapped addresses are refused, as the API server does
    ["::10.1.2.3", "::10.1.2.3"],
    ["::2", "::2"],
    ["::1:0", "::0.1.0.0"],
    ["::ffff:0:1", undefined],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["256.1.1.1", undefined],
    ["10.1.1", undefined],
    ["1::2::3", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["fe80::1%eth0", undefined],
    ["", undefined],
    ["host.example", undefined],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, input);
});

Deno.test("parseCIDR() clears host bits and cidrContains() stays within a family", () => {
  assert.equal(formatCIDR(parseCIDR("10.1.2.3/8")!), "10.0.0.0/8");
  assert.equal(formatCIDR(parseCIDR("192.168.1.77/27")!), "192.168.1.64/27");
  assert.equal(formatCIDR(parseCIDR("2001:DB8::1/32")!), "2001:db8::/32");
  assert.equal(formatCIDR(parseCIDR("fd00::1:2/121")!), "fd00::1:0/121");
  for (const bad of ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "x/8"]) {
    assert.equal(parseCIDR(bad), undefined, bad);
  }
  const net = parseCIDR("192.168.1.64/27")!;
  assert.equal(cidrContains(net, parseIP("192.168.1.95")!), true);
  assert.equal(cidrContains(net, parseIP("192.168.1.96")!), false);
  assert.equal(cidrContains(parseCIDR("0.0.0.0/0")!, parseIP("::1")!), false);
  assert.equal(cidrContains(parseCIDR("fd00::/8")!, parseIP("fdff::1")!), true);
  assert.equal(cidrContains(parseCIDR("fd00::/9")!, parseIP("fd80::1")!), false);
});

Deno.test("isLoopback() and isLinkLocalUnicast() know both families", () => {
  const is = (f: (ip: NonNullable<ReturnType<typeof parseIP>>) => boolean, s: string) =>
    f(parseIP(s)!);
  assert.equal(is(isLoopback, "127.3.4.5"), true);
  assert.equal(is(isLoopback, "::1"), true);
  assert.equal(is(isLoopback, "::2"), false);
  assert.equal(is(isLinkLocalUnicast, "fe80::1"), true);
  assert.equal(is(isLinkLocalUnicast, "febf::1"), true);
  assert.equal(is(isLinkLocalUnicast, "fec0::1"), false);
  assert.equal(is(isLinkLocalUnicast, "169.254.1.1"), true);
});
