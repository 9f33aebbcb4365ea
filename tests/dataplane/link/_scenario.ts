/**
 * One fixed conversation with the dummy link, shared by the capture of kernel replies, the
 * replay unit test and the fake's test.
 *
 * @module
 */

import type { DummyLink } from "../../../src/dataplane/link/types.ts";

/** Runs the scenario; returns what each step answered. */
export async function linkScenario(link: DummyLink) {
  const before = await link.get();
  const created = await link.ensure();
  const again = await link.ensure();
  const added = (await link.addAddresses(["10.96.0.10", "fd00::a", "10.96.0.10", "10.96.0.11"]))
    .map((r) => (r.ok ? "ok" : `${r.errno} ${r.error.message}`));
  const listed = (await link.listAddresses()).sort();
  const deleted = (await link.deleteAddresses(["10.96.0.11", "10.96.0.99"]))
    .map((r) => (r.ok ? "ok" : `${r.errno} ${r.error.message}`));
  const after = (await link.listAddresses()).sort();
  const removed = await link.delete();
  const removedAgain = await link.delete();
  return { before, created, again, added, listed, deleted, after, removed, removedAgain };
}
