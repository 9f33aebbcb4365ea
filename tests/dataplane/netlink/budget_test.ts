import assert from "node:assert/strict";
import { SendBudget } from "../../../src/dataplane/netlink/_budget.ts";

Deno.test("SendBudget: a send over the budget shrinks the limit in proportion", () => {
  const b = new SendBudget(512, 10);
  assert.equal(b.limit, 512);
  b.record(512, 360); // 512 addresses at ~0.7 ms each
  assert.equal(b.limit, 14);
  b.record(14, 12);
  assert.equal(b.limit, 11);
});

Deno.test("SendBudget: full sends well under the budget double the limit back to the maximum", () => {
  const b = new SendBudget(512, 10);
  b.record(512, 100);
  assert.equal(b.limit, 51);
  b.record(51, 4);
  assert.equal(b.limit, 102);
  b.record(40, 1); // a short last send of a batch says nothing about a full one
  assert.equal(b.limit, 102);
  for (let i = 0; i < 5; i++) b.record(b.limit, 1);
  assert.equal(b.limit, 512);
});

Deno.test("SendBudget: sends within the budget keep the limit; never below one; 0 turns it off", () => {
  const b = new SendBudget(512, 10);
  b.record(512, 8);
  assert.equal(b.limit, 512);
  b.record(512, 1e6);
  assert.equal(b.limit, 1);
  const off = new SendBudget(512, 0);
  off.record(512, 1e6);
  assert.equal(off.limit, 512);
});
