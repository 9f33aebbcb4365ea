import assert from "node:assert/strict";
import type { Family } from "../../src/net/family.ts";
import type { Nftables } from "../../src/dataplane/nftables/nftables.ts";
import type { ElementOp } from "../../src/dataplane/nftables/netlink.ts";
import { listText, type NftTable } from "../../src/dataplane/nftables/render.ts";
import { parseNftTable } from "../../src/dataplane/nftables/parse.ts";
import type { DesiredState, IpsetEntry } from "../../src/plan/desired.ts";
import { NftablesReconciler } from "../../src/reconcile/nftables_reconciler.ts";
import { emptyReport } from "../../src/reconcile/report.ts";
import { member } from "../dataplane/ipset/_ops.ts";
import { SCENARIO_CONFIG, scenarioSets } from "../dataplane/iptables/_scenario.ts";

/**
 * Nftables as a kernel would hold it, from the scripts it ran: it keeps the last table each
 * script declared (the reconciler's first script declares the table whole) and applies element
 * ops to it. Enough to prove what the reconciler writes and when.
 */
class FakeNftables implements Nftables {
  tables = new Map<Family, NftTable>();
  scripts: string[] = [];
  elementOps: ElementOp[][] = [];
  messagesSent = 0;
  constructor(private readonly render: (f: Family) => NftTable) {}
  read(family: Family) {
    const t = this.tables.get(family);
    return Promise.resolve(t && parseNftTable(listText(t), family));
  }
  run(script: string): Promise<void> {
    this.scripts.push(script);
    for (const f of [4, 6] as const) {
      if (script.includes(`table ${f === 4 ? "ip" : "ip6"} kipvs`)) {
        this.tables.set(f, this.render(f));
      }
    }
    return Promise.resolve();
  }
  applyElements(ops: readonly ElementOp[]): Promise<number> {
    this.elementOps.push([...ops]);
    return Promise.resolve(1);
  }
  hasTable(family: Family): Promise<boolean> {
    return Promise.resolve(this.tables.has(family));
  }
  deleteTables(families: readonly Family[]): Promise<void> {
    for (const f of families) this.tables.delete(f);
    return Promise.resolve();
  }
}

function desired(): DesiredState {
  return {
    virtualServers: new Map(),
    addresses: new Set(),
    ipsets: scenarioSets(),
    healthChecks: [],
    families: [4, 6],
    noLocalEndpoints: { internal: 0, external: 0 },
    conflicts: new Map(),
  };
}

const scope = (d: DesiredState, entries?: IpsetEntry[]) => ({
  desired: d,
  ...(entries
    ? {
      changes: {
        virtualServers: new Set<string>(),
        addressesAdded: new Set<string>(),
        addressesRemoved: new Set<string>(),
        entries,
      },
    }
    : {}),
  report: emptyReport(!entries),
  failures: [],
  record: true,
});

Deno.test("nftables reconciler: one script for a fresh node, nothing on a rerun", async () => {
  const d = desired();
  let current = d;
  // The kernel after a script: exactly what the reconciler renders for `current`.
  const fake: FakeNftables = new FakeNftables((f) => renderFor(current, f));
  const rec = new NftablesReconciler({ nftables: fake, config: SCENARIO_CONFIG });
  const s1 = scope(d);
  await rec.update(s1);
  assert.equal(fake.scripts.length, 1, "both families in one transaction");
  assert.match(fake.scripts[0]!, /add table ip kipvs[\s\S]*add table ip6 kipvs/);
  assert.equal(s1.report.iptablesRestores, 1);

  const again = new NftablesReconciler({ nftables: fake, config: SCENARIO_CONFIG });
  const s2 = scope(d);
  const writes = await again.update(s2);
  assert.equal(fake.scripts.length, 1, "a rerun with nothing changed writes nothing");
  assert.deepEqual(writes, []);

  // An endpoint's hairpin entry swapped: elements over netlink, no script (no program).
  current = desired();
  const loop = current.ipsets.get("KUBE-LOOP-BACK")!;
  const gone = member("10.244.1.2,tcp:8080,10.244.1.2");
  const added = member("10.244.1.9,tcp:8080,10.244.1.9");
  loop.delete(gone.key);
  loop.set(added.key, added);
  const s3 = scope(current, [
    { set: "KUBE-LOOP-BACK", member: gone },
    { set: "KUBE-LOOP-BACK", member: added },
  ]);
  await again.update(s3);
  assert.equal(fake.scripts.length, 1, "no nft run for an element change");
  assert.deepEqual(
    fake.elementOps.at(-1)!.map((o) => `${o.op} ${o.family}/${o.set} ${o.member.key}`),
    [
      "delete 4/loop-back 10.244.1.2,tcp:8080,10.244.1.2",
      "add 4/loop-back 10.244.1.9,tcp:8080,10.244.1.9",
    ],
  );
  assert.equal(s3.report.ipsetRestores, 1);
  assert.equal(s3.report.iptablesRestores, 0);

  // The last UDP node port appears: the node-port chain gains a rule, one nft run for it.
  const udp = member("30099");
  current.ipsets.get("KUBE-NODE-PORT-UDP")!.set(udp.key, udp);
  const s4 = scope(current, [{ set: "KUBE-NODE-PORT-UDP", member: udp }]);
  await again.update(s4);
  assert.equal(fake.scripts.length, 2);
  assert.match(fake.scripts[1]!, /^flush chain ip kipvs node-port$/m);
  assert.match(
    fake.scripts[1]!,
    /^add rule ip kipvs node-port udp dport @node-port-udp jump mark-for-masquerade/m,
  );
  assert.doesNotMatch(fake.scripts[1]!, /ip6 kipvs node-port/, "IPv6 has no UDP node port set");
});

Deno.test("nftables reconciler: a family no longer planned loses its table on a full sync", async () => {
  const fake = new FakeNftables((f) => renderFor(desired(), f));
  const rec = new NftablesReconciler({ nftables: fake, config: SCENARIO_CONFIG });
  await rec.update(scope(desired()));
  const only4 = { ...desired(), families: [4] as Family[] };
  const s = scope(only4);
  await rec.update(s);
  const writes = await rec.prune(s);
  assert.deepEqual([...fake.tables.keys()], [4]);
  assert.deepEqual(writes.map((w) => w.object), ["6/table kipvs"]);
});

import { planRules } from "../../src/plan/rules.ts";
import { renderNftables } from "../../src/dataplane/nftables/render.ts";

function renderFor(d: DesiredState, family: Family): NftTable {
  const t = renderNftables({
    rules: planRules({ family, config: SCENARIO_CONFIG, ipsets: d.ipsets }),
    sets: d.ipsets,
  });
  // What `nft list` gives back: parsed from the listing, no members.
  return parseNftTable(listText(t), family);
}
