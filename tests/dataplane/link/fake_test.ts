import assert from "node:assert/strict";
import { FakeDummyLink } from "./fake.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { ERRNO } from "../../../src/dataplane/netlink/errno.ts";
import { ScriptedKernel } from "../netlink/_transport.ts";

Deno.test("FakeDummyLink refuses a link of that name that is not a dummy", async () => {
  const link = new FakeDummyLink({ existing: { kind: "bridge" } });
  await assert.rejects(
    link.ensure(),
    /link kube-ipvs0 exists but is not a dummy \(kind "bridge"\)/,
  );
  await assert.rejects(link.delete(), /not a dummy/);
  assert.equal((await link.get())?.kind, "bridge");
});

Deno.test("FakeDummyLink reports each address of a batch: EEXIST, EADDRNOTAVAIL, EINVAL, ENODEV", async () => {
  const link = new FakeDummyLink({ existing: { kind: "dummy", addresses: ["10.96.0.10"] } });
  const add = await link.addAddresses(["10.96.0.10", "FD00::A", "not-an-ip", "10.96.0.11"]);
  assert.deepEqual(add.map((r) => (r.ok ? 0 : r.errno)), [ERRNO.EEXIST, 0, ERRNO.EINVAL, 0]);
  const bad = add[2]!;
  assert.equal(
    !bad.ok && bad.error.message,
    'add address not-an-ip/32 to kube-ipvs0: Invalid argument (EINVAL): invalid IP address "not-an-ip"',
  );
  assert.deepEqual((await link.listAddresses()).sort(), ["10.96.0.10", "10.96.0.11", "fd00::a"]);
  const del = await link.deleteAddresses(["fd00::a", "fd00::a"]);
  assert.deepEqual(del.map((r) => (r.ok ? 0 : r.errno)), [0, ERRNO.EADDRNOTAVAIL]);
  await link.delete();
  const gone = await link.addAddresses(["10.96.0.12"]);
  assert.equal(
    !gone[0]!.ok && gone[0]!.error.message,
    "add address 10.96.0.12/32 to kube-ipvs0: No such device (ENODEV): no link kube-ipvs0",
  );
});

Deno.test("dummy links refuse a name the kernel could not take", () => {
  assert.throws(() => new FakeDummyLink({ name: "a-name-far-too-long" }), /invalid interface name/);
  assert.throws(
    () =>
      KernelDummyLink.open({
        name: "bad/name",
        transport: new ScriptedKernel({ handle: () => 0 }),
      }),
    /invalid interface name "bad\/name"/,
  );
});
