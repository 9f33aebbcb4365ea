/**
 * The kube-ipvs0 dummy link through kipvs's rtnetlink code against the guest's kernel, each
 * answer cross-checked with `ip` (and with FakeDummyLink, which must answer the same). Booted
 * by tests/kernel/ipvs_test.ts.
 */

import assert from "node:assert/strict";
import { FakeDummyLink } from "../../dataplane/link/fake.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { ERRNO } from "../../../src/dataplane/netlink/errno.ts";
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
