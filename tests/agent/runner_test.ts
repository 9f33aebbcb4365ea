import assert from "node:assert/strict";
import { type SyncRequest, SyncRunner } from "../../src/agent/runner.ts";
import { FakeClock } from "../fake_clock.ts";

function setup(opts: { fail?: (n: number) => boolean } = {}) {
  const clock = new FakeClock();
  const runs: { at: number; req: SyncRequest }[] = [];
  const runner = new SyncRunner({
    minIntervalMs: 1000,
    maxIntervalMs: 30_000,
    clock,
    sync: (req) => {
      runs.push({ at: clock.t, req });
      return opts.fail?.(runs.length) ? Promise.reject(new Error("boom")) : Promise.resolve();
    },
  });
  return { clock, runs, runner };
}

Deno.test("SyncRunner starts with a full sync and then resyncs fully every sync period", async () => {
  const { clock, runs, runner } = setup();
  runner.start();
  await clock.advance(65_000);
  assert.deepEqual(runs.map((r) => [r.at, r.req.full]), [[0, true], [30_000, true], [
    60_000,
    true,
  ]]);
  await runner.stop();
});

Deno.test("SyncRunner runs a change at once, two back to back, then one per min sync period", async () => {
  const { clock, runs, runner } = setup();
  runner.start();
  await clock.advance(100);
  runner.request(); // the second of a burst of two: at once
  await clock.advance(200);
  runner.request(); // the allowance is spent: waits until one has come back (t=1000)
  await clock.advance(300);
  runner.request(); // coalesced with the one waiting
  await clock.advance(1500);
  runner.request(); // 0.5 s after the last: waits until t=2000
  await clock.advance(5000);
  runner.request(); // the allowance is back to two: at once
  await clock.advance(5000);
  assert.deepEqual(runs.map((r) => [r.at, r.req.full]), [
    [0, true],
    [100, false],
    [1000, false],
    [2000, false],
    [5000, false],
  ]);
  await runner.stop();
});

Deno.test("SyncRunner with a burst of one spaces every sync by the min sync period", async () => {
  const clock = new FakeClock();
  const runs: number[] = [];
  const runner = new SyncRunner({
    minIntervalMs: 1000,
    maxIntervalMs: 30_000,
    burst: 1,
    clock,
    sync: () => {
      runs.push(clock.t);
      return Promise.resolve();
    },
  });
  runner.start();
  await clock.advance(100);
  runner.request();
  await clock.advance(5000);
  runner.request();
  await clock.advance(6000);
  assert.deepEqual(runs, [0, 1000, 5000]);
  await runner.stop();
});

Deno.test("SyncRunner coalesces a burst of changes into one sync", async () => {
  const { clock, runs, runner } = setup();
  runner.start();
  await clock.advance(2000);
  for (let i = 0; i < 50; i++) runner.request();
  await clock.advance(2500);
  assert.equal(runs.length, 2);
  assert.equal(runner.pending, false);
  await runner.stop();
});

Deno.test("SyncRunner retries a failed sync as a full sync with exponential backoff", async () => {
  const { clock, runs, runner } = setup({ fail: (n) => n >= 2 && n <= 4 });
  runner.start();
  await clock.advance(2000);
  runner.request();
  await clock.advance(20_000);
  assert.deepEqual(runs.map((r) => [r.at, r.req.full, r.req.retry]), [
    [0, true, 0],
    [2000, false, 0], // fails
    [3000, true, 1], // +1 s, fails
    [5000, true, 2], // +2 s, fails
    [9000, true, 3], // +4 s, succeeds
  ]);
  await runner.stop();
});

Deno.test("SyncRunner never runs two syncs at once", async () => {
  const clock = new FakeClock();
  let active = 0;
  let maxActive = 0;
  let release: () => void = () => {};
  const runner = new SyncRunner({
    minIntervalMs: 0,
    maxIntervalMs: 30_000,
    clock,
    sync: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => release = r);
      active--;
    },
  });
  runner.start();
  await clock.advance(1);
  runner.request();
  runner.request();
  await clock.advance(10);
  assert.equal(maxActive, 1);
  release();
  await clock.advance(20);
  release();
  await clock.advance(30);
  assert.equal(maxActive, 1);
  const stopped = runner.stop();
  release();
  await stopped;
});

Deno.test("SyncRunner backs off when the periodic full sync fails, instead of retrying at once", async () => {
  const { clock, runs, runner } = setup({ fail: (n) => n >= 2 && n <= 4 });
  runner.start();
  await clock.advance(45_000);
  assert.deepEqual(runs.map((r) => [r.at, r.req.full, r.req.retry]), [
    [0, true, 0],
    [30_000, true, 0], // the period's full sync fails
    [31_000, true, 1], // +1 s, fails
    [33_000, true, 2], // +2 s, fails
    [37_000, true, 3], // +4 s, succeeds
  ]);
  await runner.stop();
});
