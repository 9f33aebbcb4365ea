import assert from "node:assert/strict";
import { Debounced } from "../../src/source/_debounce.ts";
import { FakeClock } from "../fake_clock.ts";

/** A Debounced (40 ms quiet, 200 ms at most) on a fake clock; each run takes `runMs`. */
function recorder(runMs = 0) {
  const clock = new FakeClock(1_000);
  const runs: number[] = [];
  let active = 0;
  let overlapped = false;
  const d = new Debounced({
    delayMs: 40,
    maxDelayMs: 200,
    clock,
    run: async (firstAt) => {
      if (++active > 1) overlapped = true;
      runs.push(firstAt);
      await new Promise<void>((r) => clock.setTimeout(r, runMs));
      active--;
    },
    onError: (err) => {
      throw err;
    },
  });
  return { d, runs, clock, overlapped: () => overlapped };
}

Deno.test("Debounced runs once for a burst, with the time of its first trigger", async () => {
  const { d, runs, clock } = recorder();
  for (let i = 0; i < 5; i++) {
    d.trigger();
    await clock.advance(clock.t + 10);
  }
  await clock.advance(clock.t + 120);
  assert.deepEqual(runs, [1_000]);
  await d.stop();
});

Deno.test("Debounced runs within maxDelayMs under constant triggers", async () => {
  const { d, runs, clock } = recorder();
  while (clock.t < 1_450) {
    d.trigger();
    await clock.advance(clock.t + 10);
  }
  await d.stop();
  assert.deepEqual(runs, [1_000, 1_200], "one run each 200 ms of constant triggers");
});

Deno.test("Debounced never overlaps runs and runs once more after a trigger during a run", async () => {
  const { d, runs, clock, overlapped } = recorder(150);
  d.trigger();
  await clock.advance(1_080); // the first run (40 ms quiet, then 150 ms) is in progress
  d.trigger();
  d.trigger();
  await clock.advance(1_600);
  assert.equal(runs.length, 2);
  assert.equal(overlapped(), false);
  await d.stop();
});

Deno.test("Debounced.stop() cancels a pending run", async () => {
  const { d, runs, clock } = recorder();
  d.trigger();
  await d.stop();
  d.trigger();
  await clock.advance(2_000);
  assert.equal(runs.length, 0);
});

Deno.test("Debounced runs a burst of immediate triggers at once, and waits for quiet once a slow one joins", async () => {
  const { d, runs, clock } = recorder();
  d.trigger({ immediate: true });
  await clock.advance(clock.t + 1);
  assert.deepEqual(runs, [1_000], "an immediate trigger does not wait the 40 ms delay");
  d.trigger({ immediate: true });
  d.trigger();
  await clock.advance(clock.t + 20);
  assert.equal(runs.length, 1, "a slow trigger in the burst makes it wait");
  await clock.advance(clock.t + 30);
  assert.deepEqual(runs, [1_000, 1_001]);
  await d.stop();
});

Deno.test("Debounced gathers immediate triggers that come within settleMs into one run", async () => {
  const clock = new FakeClock(1_000);
  const runs: number[] = [];
  const d = new Debounced({
    delayMs: 1000,
    maxDelayMs: 5000,
    settleMs: 30,
    clock,
    run: (firstAt) => {
      runs.push(firstAt);
      return Promise.resolve();
    },
    onError: (err) => {
      throw err;
    },
  });
  for (let i = 0; i < 4; i++) {
    d.trigger({ immediate: true });
    await clock.advance(clock.t + 10);
  }
  assert.deepEqual(runs, [], "still settling");
  await clock.advance(clock.t + 30);
  assert.deepEqual(runs, [1_000], "one run for the burst, long before the 1 s delay");
  await d.stop();
});

Deno.test("Debounced's passive triggers join a pending run instead of postponing it", async () => {
  const { d, runs, clock } = recorder();
  d.trigger();
  for (let i = 0; i < 3; i++) {
    await clock.advance(clock.t + 10);
    d.trigger({ passive: true }); // every 10 ms, as a too frequent rescan would
  }
  await clock.advance(1_041);
  assert.deepEqual(runs, [1_000], "the run came 40 ms after the real trigger, not after quiet");
  await clock.advance(1_100);
  assert.equal(runs.length, 1);
  d.trigger({ passive: true }); // nothing pending: it schedules a run of its own
  await clock.advance(1_150);
  assert.deepEqual(runs, [1_000, 1_100]);
  await d.stop();
});
