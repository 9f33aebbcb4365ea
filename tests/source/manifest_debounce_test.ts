import assert from "node:assert/strict";
import { Debounced } from "../../src/source/_debounce.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(runMs = 0) {
  const runs: number[] = [];
  let active = 0;
  let overlapped = false;
  const d = new Debounced({
    delayMs: 40,
    maxDelayMs: 200,
    run: async (firstAt) => {
      if (++active > 1) overlapped = true;
      runs.push(firstAt);
      await sleep(runMs);
      active--;
    },
    onError: (err) => {
      throw err;
    },
  });
  return { d, runs, overlapped: () => overlapped };
}

Deno.test("Debounced runs once for a burst, with the time of its first trigger", async () => {
  const { d, runs } = recorder();
  const first = Date.now();
  for (let i = 0; i < 5; i++) {
    d.trigger();
    await sleep(10);
  }
  await sleep(120);
  assert.equal(runs.length, 1);
  assert.ok(Math.abs(runs[0]! - first) < 15, `first trigger at ${first}, run got ${runs[0]}`);
  await d.stop();
});

Deno.test("Debounced runs within maxDelayMs under constant triggers", async () => {
  const { d, runs } = recorder();
  const start = Date.now();
  while (Date.now() - start < 450) {
    d.trigger();
    await sleep(10);
  }
  await d.stop();
  assert.ok(runs.length >= 2, `only ${runs.length} runs in 450 ms of triggers`);
});

Deno.test("Debounced never overlaps runs and runs once more after a trigger during a run", async () => {
  const { d, runs, overlapped } = recorder(150);
  d.trigger();
  await sleep(80); // the first run is in progress
  d.trigger();
  d.trigger();
  await sleep(500);
  assert.equal(runs.length, 2);
  assert.equal(overlapped(), false);
  await d.stop();
});

Deno.test("Debounced.stop() cancels a pending run", async () => {
  const { d, runs } = recorder();
  d.trigger();
  await d.stop();
  d.trigger();
  await sleep(100);
  assert.equal(runs.length, 0);
});

Deno.test("Debounced runs a burst of immediate triggers at once, and waits for quiet once a slow one joins", async () => {
  const { d, runs } = recorder();
  const t = Date.now();
  d.trigger({ immediate: true });
  await sleep(20);
  assert.equal(runs.length, 1, "an immediate trigger does not wait the 40 ms delay");
  assert.ok(runs[0]! >= t);
  d.trigger({ immediate: true });
  d.trigger();
  await sleep(20);
  assert.equal(runs.length, 1, "a slow trigger in the burst makes it wait");
  await sleep(60);
  assert.equal(runs.length, 2);
  await d.stop();
});

Deno.test("Debounced gathers immediate triggers that come within settleMs into one run", async () => {
  const runs: number[] = [];
  const d = new Debounced({
    delayMs: 1000,
    maxDelayMs: 5000,
    settleMs: 30,
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
    await sleep(10);
  }
  assert.equal(runs.length, 0, "still settling");
  await sleep(60);
  assert.equal(runs.length, 1, "one run for the burst, long before the 1 s delay");
  await d.stop();
});
