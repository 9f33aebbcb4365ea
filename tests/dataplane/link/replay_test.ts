import assert from "node:assert/strict";
import { FakeDummyLink } from "./fake.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { ReplayTransport } from "../netlink/_transport.ts";
import { linkScenario } from "./_scenario.ts";

// Recorded from the guest kernel by tests/kernel/guest/ipvs_capture.ts.
const RECORDING = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/kernel-replies.json", import.meta.url)),
);

Deno.test("KernelDummyLink sends the recorded requests byte for byte and decodes the replies", async () => {
  const replay = new ReplayTransport(RECORDING);
  const out = await linkScenario(KernelDummyLink.open({ transport: replay, firstSeq: 2000 }));
  assert.equal(replay.remaining, 0);
  assert.equal(out.before, undefined);
  assert.equal(out.created.kind, "dummy");
  assert.equal(out.created.up, false, "kept down, as kube-proxy keeps it");
  assert.equal(out.created.name, "kube-ipvs0");
  assert.ok(out.created.index > 1);
  assert.deepEqual(out.again, out.created);
  assert.deepEqual(out.added, [
    "ok",
    "ok",
    "17 add address 10.96.0.10/32 to kube-ipvs0: File exists (EEXIST)",
    "ok",
  ]);
  assert.deepEqual(out.listed, ["10.96.0.10", "10.96.0.11", "fd00::a"]);
  assert.deepEqual(out.deleted, [
    "ok",
    "99 delete address 10.96.0.99/32 from kube-ipvs0: Cannot assign requested address (EADDRNOTAVAIL)",
  ]);
  assert.deepEqual(out.after, ["10.96.0.10", "fd00::a"]);
  assert.equal(out.removed, true);
  assert.equal(out.removedAgain, false);
});

Deno.test("FakeDummyLink answers the scenario as the recorded kernel did", async () => {
  const kernel = await linkScenario(
    KernelDummyLink.open({ transport: new ReplayTransport(RECORDING), firstSeq: 2000 }),
  );
  const fake = await linkScenario(new FakeDummyLink());
  const strip = (o: typeof kernel) => ({
    ...o,
    created: { ...o.created, index: 0 },
    again: { ...o.again, index: 0 },
  });
  assert.deepEqual(strip(fake), strip(kernel));
});
