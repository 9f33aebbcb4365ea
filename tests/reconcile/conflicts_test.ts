import assert from "node:assert/strict";
import { ConflictReporter } from "../../src/reconcile/conflicts.ts";
import { PlanMerge } from "../../src/plan/merge.ts";
import { planService } from "../../src/plan/plan.ts";
import { ctx, svc } from "../plan/_fixtures.ts";

Deno.test("ConflictReporter says each conflict once, naming both Services and the winner; a node port counts once", () => {
  const C = ctx();
  const m = new PlanMerge({ families: [4] });
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log = {
    warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, fields }),
  };
  const r = new ConflictReporter();
  const np = (name: string, ip: string) =>
    planService(
      svc({ name, ips: [ip], type: "NodePort", ports: [{ port: 80, nodePort: 30080 }] }),
      [],
      C,
    )!;
  m.set("default/x", np("x", "10.96.0.1"));
  r.report(m.state, log);
  assert.equal(r.count, 0);
  m.set("default/y", np("y", "10.96.0.2"));
  r.report(m.state, log);
  r.report(m.state, log); // said once
  assert.equal(r.count, 1);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!.msg,
    /^Services default\/x and default\/y both want node port TCP 30080: default\/x has it/,
  );
  assert.deepEqual(warnings[0]!.fields, {
    conflict: "node port TCP 30080",
    winner: "default/x",
    losers: ["default/y"],
  });
  m.delete("default/x");
  r.report(m.state, log);
  assert.equal(r.count, 0);
});
