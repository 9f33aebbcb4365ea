/**
 * The kube-ipvs0 dummy link through kipvs's rtnetlink code against the guest's kernel, each
 * answer cross-checked with `ip` (and with FakeDummyLink, which must answer the same). Booted
 * by tests/kernel/ipvs_test.ts.
 */

import assert from "node:assert/strict";
import { FakeDummyLink } from "../../dataplane/link/fake.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { NETLINK_ROUTE } from "../../../src/dataplane/netlink/constants.ts";
import { ERRNO } from "../../../src/dataplane/netlink/errno.ts";
import { NetlinkSocket } from "../../../src/dataplane/netlink/socket.ts";
import { linkScenario } from "../../dataplane/link/_scenario.ts";
import { run } from "./_run.ts";

const link = KernelDummyLink.open();

Deno.test("the link scenario answers the same from the kernel and the fake", async () => {
  await link.delete();
  const kernel = await linkScenario(link);
  const fake = await linkScenario(new FakeDummyLink());
  const { created, again, ...rest } = kernel;
  const { created: fc, again: fa, ...frest } = fake;
  assert.deepEqual(rest, frest);
  assert.deepEqual({ ...created, index: 0 }, { ...fc, index: 0 });
  assert.equal(again.index, created.index);
  assert.deepEqual({ ...again, index: 0 }, { ...fa, index: 0 });
});

Deno.test("ensure() makes kube-ipvs0 a dummy kept down, and its addresses show in ip -d addr", async () => {
  await link.delete();
  const state = await link.ensure();
  assert.deepEqual({ ...state, index: 0 }, {
    name: "kube-ipvs0",
    index: 0,
    kind: "dummy",
    up: false,
  });
  const results = await link.addAddresses(["10.96.0.10", "fd00::a", "10.96.0.11"]);
  assert.ok(results.every((r) => r.ok));
  const shown = await run("ip", "-d", "addr", "show", "kube-ipvs0");
  assert.match(
    shown,
    new RegExp(`^${state.index}: kube-ipvs0: <BROADCAST,NOARP> .* state DOWN`, "m"),
  );
  assert.match(shown, /^\s+dummy /m);
  assert.match(shown, /inet 10\.96\.0\.10\/32 scope global kube-ipvs0/);
  assert.match(shown, /inet 10\.96\.0\.11\/32 scope global kube-ipvs0/);
  assert.match(shown, /inet6 fd00::a\/128 scope global/);
  assert.deepEqual((await link.listAddresses()).sort(), ["10.96.0.10", "10.96.0.11", "fd00::a"]);
  await link.deleteAddresses(["10.96.0.11"]);
  assert.doesNotMatch(await run("ip", "addr", "show", "kube-ipvs0"), /10\.96\.0\.11/);
  assert.equal((await link.ensure()).index, state.index, "a second ensure() keeps the link");
});

Deno.test("1,000 addresses in one batch with one duplicate: 999 added, the duplicate named", async () => {
  await link.delete();
  await link.ensure();
  const addrs = Array.from({ length: 999 }, (_, i) => `10.97.${i >> 8}.${i & 255}`);
  addrs.splice(500, 0, "10.97.0.7");
  const sent = link.messagesSent;
  const results = await link.addAddresses(addrs);
  assert.ok(link.messagesSent - sent <= 1_001 + 1, "one message per address, one lookup");
  const failed = results.flatMap((r, i) => (r.ok ? [] : [[i, r.errno, r.error.message]]));
  assert.deepEqual(failed, [[
    500,
    ERRNO.EEXIST,
    "add address 10.97.0.7/32 to kube-ipvs0: File exists (EEXIST)",
  ]]);
  const shown = (await run("ip", "-4", "addr", "show", "kube-ipvs0")).match(/inet /g) ?? [];
  assert.equal(shown.length, 999);
  const del = await link.deleteAddresses([...addrs, "10.97.99.99"]);
  assert.deepEqual(
    del.flatMap((r) => (r.ok ? [] : [r.errno])),
    [ERRNO.EADDRNOTAVAIL, ERRNO.EADDRNOTAVAIL],
    "the duplicate's second delete and the unknown address",
  );
  assert.deepEqual(await link.listAddresses(), []);
});

Deno.test("a link of that name that is not a dummy is refused and left alone", async () => {
  await run("ip", "link", "add", "kipvs-br", "type", "bridge");
  const other = KernelDummyLink.open({ name: "kipvs-br" });
  await assert.rejects(other.ensure(), /link kipvs-br exists but is not a dummy \(kind "bridge"\)/);
  await assert.rejects(other.delete(), /not a dummy/);
  assert.match(await run("ip", "-d", "link", "show", "kipvs-br"), /bridge/);
  other.close();
  await run("ip", "link", "del", "kipvs-br");
});

/** `ip -o addr show` as "name address" lines, kube-ipvs0's left out, sorted. */
async function ipAddrShow(): Promise<string[]> {
  const lines = (await run("ip", "-o", "addr", "show")).split("\n").filter((l) => l.trim());
  return lines.map((l) => {
    const [, name, family, cidr] = l.split(/\s+/);
    assert.ok(family === "inet" || family === "inet6", l);
    return `${name!.replace(/@.*/, "")} ${cidr!.split("/")[0]}`;
  }).filter((l) => !l.startsWith("kube-ipvs0 ")).sort();
}

Deno.test("nodeAddresses() lists every address but kube-ipvs0's, as ip -o addr show does; listAddresses() its own", async () => {
  await link.delete();
  await link.ensure();
  await link.addAddresses(["10.96.5.1", "10.96.5.2", "fd00::5:1"]);
  await run("ip", "link", "add", "kipvs-n0", "type", "dummy");
  await run("ip", "addr", "add", "192.0.2.7/24", "dev", "kipvs-n0");
  await run("ip", "addr", "add", "192.0.2.8/32", "dev", "kipvs-n0");
  await run("ip", "addr", "add", "2001:db8::7/64", "dev", "kipvs-n0", "nodad");
  try {
    const want = await ipAddrShow();
    assert.ok(want.includes("kipvs-n0 192.0.2.8") && want.includes("kipvs-n0 2001:db8::7"));
    const probe = NetlinkSocket.open({ protocol: NETLINK_ROUTE, strictChecking: true });
    assert.equal(probe.strictChecking, true, "the kernel grants NETLINK_GET_STRICT_CHK");
    probe.close();
    const got = await link.nodeAddresses();
    assert.ok(got.every((a) => a.family === (a.address.includes(":") ? "IPv6" : "IPv4")));
    assert.deepEqual(got.map((a) => `${a.name} ${a.address}`).sort(), want);
    const own = ["10.96.5.1", "10.96.5.2", "fd00::5:1"];
    assert.deepEqual((await link.listAddresses()).sort(), own, "the link's own, one link dumped");
    // Without strict checking: one dump of every address, kube-ipvs0's skipped.
    const plain = NetlinkSocket.open({ protocol: NETLINK_ROUTE });
    assert.equal(plain.strictChecking, false);
    const loose = KernelDummyLink.open({ transport: plain });
    const sent = loose.messagesSent;
    const all = await loose.nodeAddresses();
    assert.equal(loose.messagesSent - sent, 2, "one link dump, one address dump");
    assert.deepEqual(all.map((a) => `${a.name} ${a.address}`).sort(), want);
    assert.deepEqual((await loose.listAddresses()).sort(), own, "the link's own, all dumped");
    loose.close();
  } finally {
    await run("ip", "link", "del", "kipvs-n0");
  }
});

Deno.test("delete() removes the link; addresses then fail with ENODEV", async () => {
  await link.ensure();
  assert.equal(await link.delete(), true);
  assert.equal(await link.delete(), false);
  const out = await new Deno.Command("ip", {
    args: ["link", "show", "kube-ipvs0"],
    stderr: "piped",
  }).output();
  assert.notEqual(out.code, 0);
  const [r] = await link.addAddresses(["10.96.0.10"]);
  assert.equal(r?.ok === false && r.errno, ERRNO.ENODEV);
});
