import assert from "node:assert/strict";
import {
  canonicalIp,
  formatIp,
  ipFamily,
  parseIp,
  parseIpInto,
} from "../../../src/dataplane/netlink/addr.ts";

Deno.test("parseIp() reads IPv4 and IPv6 into network-order bytes", () => {
  assert.deepEqual(parseIp("10.96.0.10"), { family: 4, bytes: Uint8Array.of(10, 96, 0, 10) });
  const v6 = parseIp("fd00::a");
  assert.equal(v6?.family, 6);
  assert.deepEqual([...v6!.bytes], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a]);
  assert.deepEqual([...parseIp("::ffff:10.1.2.3")!.bytes.subarray(10)], [0xff, 0xff, 10, 1, 2, 3]);
  assert.deepEqual([...parseIp("1:2:3:4:5:6:7:8")!.bytes.subarray(14)], [0, 8]);
});

Deno.test("parseIp() refuses what is not an address", () => {
  for (
    const bad of [
      "",
      "10.0.0",
      "10.0.0.256",
      "010.0.0.1",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "fe80::1%eth0",
      "10.0.0.1/32",
      "1.2.3.4::",
      "g::1",
      "12345::1",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("formatIp() prints addresses as inet_ntop does", () => {
  const cases: [string, string][] = [
    ["FD00:0:0:0:0:0:0:A", "fd00::a"],
    ["::", "::"],
    ["::1", "::1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"], // the longer run wins
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // the first of equal runs wins
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"], // a single zero group stays
    ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
    ["2001:db8::", "2001:db8::"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  assert.equal(formatIp(4, Uint8Array.of(0, 192, 168, 1, 2), 1), "192.168.1.2");
});

Deno.test("parseIpInto() fills 16 bytes, IPv4 in the first 4 and the rest zeroed", () => {
  const out = new Uint8Array(16).fill(0xee);
  assert.equal(parseIpInto("10.96.0.10", out), 4);
  assert.deepEqual([...out], [10, 96, 0, 10, ...Array(12).fill(0)]);
  assert.equal(parseIpInto("fd00::1", out), 6);
  assert.deepEqual([out[0], out[1], out[15]], [0xfd, 0, 1]);
  assert.equal(parseIpInto("nope", out), undefined);
  assert.equal(ipFamily("::1"), 6);
  assert.equal(ipFamily("1.2.3.4"), 4);
  assert.equal(ipFamily("1.2.3"), undefined);
});
