import assert from "node:assert/strict";
import { canonicalIp, formatIp, inetAddr16, parseIp } from "../../../src/dataplane/netlink/addr.ts";

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

Deno.test("inetAddr16() puts IPv4 in the first 4 of 16 bytes", () => {
  const b = inetAddr16(parseIp("10.96.0.10")!);
  assert.equal(b.length, 16);
  assert.deepEqual([...b.subarray(0, 5)], [10, 96, 0, 10, 0]);
});
