import assert from "node:assert/strict";
import {
  canonicalIP,
  checkCIDR,
  checkIP,
  cidrContains,
  formatCIDR,
  formatIP,
  formatIPAt,
  ipFamily,
  isLinkLocalUnicast,
  isLoopback,
  isZeroCIDR,
  parseCIDR,
  parseIP,
  parseIPInto,
} from "../../src/net/ip.ts";

Deno.test("canonicalIP() writes IPv6 in RFC 5952 form", () => {
  const cases: [string, string][] = [
    ["FD00::0:1", "fd00::1"],
    ["fd00:0:0:0:0:0:0:1", "fd00::1"],
    ["2001:DB8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"], // first of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["fe80::0001", "fe80::1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longer run wins
    ["::102:304", "::1.2.3.4"], // IPv4-compatible: dotted, as inet_ntop (ipset, ipvsadm)
    ["::0.0.1.0", "::100"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, input);
});

Deno.test("canonicalIP() reads IPv4 octets with leading zeros as decimal, as kube-proxy", () => {
  assert.equal(canonicalIP("010.001.000.009"), "10.1.0.9");
  assert.equal(canonicalIP("10.96.0.1"), "10.96.0.1");
});

Deno.test("parseIP() refuses malformed, zoned and IPv4-mapped addresses with a reason", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "999.1.1.1",
      "1.2.3.-4",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1..2.3",
      "0x1.2.3.4",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":1:2:3:4:5:6:7",
      "12345::",
      "g::1",
      "1.2.3.4::",
      "::1.2.3",
      "fd00::1/64",
      "web",
    ]
  ) {
    assert.equal(parseIP(bad), undefined, JSON.stringify(bad));
  }
  assert.match(checkIP("fe80::1%eth0") as string, /zoned/);
  assert.match(checkIP("::ffff:10.0.0.1") as string, /IPv4-mapped/);
  assert.match(checkIP("::FFFF:a00:1") as string, /IPv4-mapped/);
});

Deno.test("canonicalIP() and ipFamily() answer as parseIP() does, fast path or not", () => {
  for (
    const t of [
      "0.0.0.0",
      "255.255.255.255",
      "10.96.0.1",
      "1.2.3.04",
      "00.1.2.3",
      "010.001.000.009",
      "1.2.3.256",
      "1.2.3.4.",
      ".1.2.3.4",
      "1.2.3",
      "1.2.3.4.5",
      "1..2.3",
      "1.2.3.1000",
      "fd00::1",
      "",
    ]
  ) {
    const p = parseIP(t);
    assert.equal(canonicalIP(t), p?.text, JSON.stringify(t));
    assert.equal(ipFamily(t), p?.family, JSON.stringify(t));
  }
});

Deno.test("parseIP() gives family and network-order bytes", () => {
  assert.deepEqual(parseIP("10.96.0.1"), {
    family: 4,
    bytes: new Uint8Array([10, 96, 0, 1]),
    text: "10.96.0.1",
  });
  const v6 = parseIP("fd00::a:1");
  assert.equal(v6?.family, 6);
  assert.deepEqual([...v6!.bytes.slice(12)], [0, 10, 0, 1]);
  assert.equal(ipFamily("fd00::1"), 6);
  assert.equal(ipFamily("1.2.3.4"), 4);
  assert.equal(ipFamily("nope"), undefined);
});

Deno.test("formatIP() round-trips bytes and rejects other lengths", () => {
  for (const t of ["0.0.0.0", "255.255.255.255", "fd00::1", "2001:db8:1:2:3:4:5:6", "::"]) {
    assert.equal(formatIP(parseIP(t)!.bytes), t);
  }
  assert.throws(() => formatIP(new Uint8Array(5)), RangeError);
  const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
  assert.equal(formatIP(mapped), "::ffff:10.0.0.1"); // read from the kernel, never parsed
  assert.equal(formatIP({ family: 4, bytes: new Uint8Array([10, 0, 0, 1]) }), "10.0.0.1");
});

Deno.test("formatCIDR(), isZeroCIDR(), isLoopback() and isLinkLocalUnicast() classify", () => {
  assert.equal(formatCIDR(parseCIDR("fd00::1/8")!), "fd00::/8");
  assert.equal(isZeroCIDR(parseCIDR("::/0")!), true);
  assert.equal(isZeroCIDR(parseCIDR("10.0.0.0/8")!), false);
  assert.deepEqual(["127.3.0.1", "::1", "10.0.0.1", "::2"].map((t) => isLoopback(parseIP(t)!)), [
    true,
    true,
    false,
    false,
  ]);
  assert.deepEqual(
    ["169.254.1.1", "fe80::1", "febf::1", "fec0::1"].map((t) => isLinkLocalUnicast(parseIP(t)!)),
    [true, true, true, false],
  );
});

Deno.test("parseCIDR() canonicalises to the network address and flags host bits", () => {
  assert.deepEqual(
    { ...parseCIDR("10.1.2.3/8"), bytes: undefined },
    {
      family: 4,
      bytes: undefined,
      prefix: 8,
      address: "10.0.0.0",
      text: "10.0.0.0/8",
      hostBitsSet: true,
    },
  );
  assert.equal(parseCIDR("FD00:0::/64")?.text, "fd00::/64");
  assert.equal(parseCIDR("fd00::1:2/112")?.text, "fd00::1:0/112");
  assert.equal(parseCIDR("192.168.1.0/24")?.hostBitsSet, false);
  assert.equal(parseCIDR("0.0.0.0/0")?.text, "0.0.0.0/0");
  assert.equal(parseCIDR("10.0.0.1/32")?.text, "10.0.0.1/32");
  assert.equal(parseCIDR("10.0.0.0/25")?.text, "10.0.0.0/25");
  assert.equal(parseCIDR("10.0.0.200/25")?.text, "10.0.0.128/25");
});

Deno.test("parseCIDR() refuses a missing or out-of-range prefix and a bad address", () => {
  assert.match(checkCIDR("10.0.0.0") as string, /missing \/prefix/);
  assert.match(checkCIDR("10.0.0.0/33") as string, /prefix must be 0-32/);
  assert.match(checkCIDR("fd00::/129") as string, /prefix must be 0-128/);
  assert.match(checkCIDR("10.0.0.0/08") as string, /prefix/);
  assert.match(checkCIDR("10.0.0.0/") as string, /prefix/);
  assert.match(checkCIDR("300.0.0.0/8") as string, /not a valid IP address/);
});

Deno.test("cidrContains() matches within the prefix and never across families", () => {
  const net = parseCIDR("10.96.0.0/12")!;
  assert.equal(cidrContains(net, parseIP("10.111.255.255")!), true);
  assert.equal(cidrContains(net, parseIP("10.112.0.0")!), false);
  assert.equal(cidrContains(parseCIDR("0.0.0.0/0")!, parseIP("1.2.3.4")!), true);
  assert.equal(cidrContains(parseCIDR("0.0.0.0/0")!, parseIP("::1")!), false);
  const v6 = parseCIDR("fd00:10::/33")!;
  assert.equal(cidrContains(v6, parseIP("fd00:10:7fff::1")!), true);
  assert.equal(cidrContains(v6, parseIP("fd00:10:8000::1")!), false);
});

Deno.test("parseIPInto() fills 16 bytes, IPv4 in the first 4 and the rest zeroed", () => {
  const out = new Uint8Array(16).fill(0xee);
  assert.equal(parseIPInto("10.96.0.10", out), 4);
  assert.deepEqual([...out], [10, 96, 0, 10, ...Array(12).fill(0)]);
  assert.equal(parseIPInto("fd00::1", out), 6);
  assert.deepEqual([...out], [0xfd, ...Array(14).fill(0), 1]);
  assert.equal(parseIPInto("1:2:3:4:5:6:7:8", out), 6);
  assert.deepEqual([out[14], out[15]], [0, 8]);
  for (const bad of ["nope", "10.0.0", "::ffff:10.1.2.3", "fe80::1%eth0", "10.0.0.1/32"]) {
    assert.equal(parseIPInto(bad, out), undefined, bad);
  }
});

Deno.test("formatIPAt() prints an address where a buffer holds it, as inet_ntop does", () => {
  assert.equal(formatIPAt(4, Uint8Array.of(0, 192, 168, 1, 2), 1), "192.168.1.2");
  const v6 = new Uint8Array(18);
  parseIPInto("1:0:0:1:0:0:0:1", v6.subarray(2));
  assert.equal(formatIPAt(6, v6, 2), "1:0:0:1::1");
  v6.fill(0);
  v6[12] = v6[13] = 0xff;
  v6.set([10, 1, 2, 3], 14);
  assert.equal(formatIPAt(6, v6, 2), "::ffff:10.1.2.3"); // read back from a kernel, never parsed
});
