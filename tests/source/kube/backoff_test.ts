import assert from "node:assert/strict";
import { Backoff, sleep } from "../../../src/source/kube/backoff.ts";
import { readLines, readText } from "../../../src/source/kube/body.ts";

Deno.test("Backoff doubles from its initial delay up to its cap, stretched by jitter, until reset", () => {
  const b = new Backoff({ initialMs: 100, maxMs: 500, jitter: 0.5, random: () => 1 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [150, 300, 600, 750, 750]);
  assert.equal(b.failures, 5);
  b.reset();
  assert.equal(new Backoff({ initialMs: 100, random: () => 0 }).next(), 100);
  assert.equal(b.next(), 150);
});

Deno.test("sleep() returns early when its signal aborts", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  setTimeout(() => ac.abort(), 20);
  await sleep(10_000, ac.signal);
  assert.ok(performance.now() - t0 < 1000);
});

function stream(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      c.close();
    },
  });
}

Deno.test("readLines() splits NDJSON however it was chunked, including a multi-byte character cut in two", async () => {
  const bytes = new TextEncoder().encode('{"a":"é"}\n\n{"b":2}\n{"c"');
  const cut = bytes.indexOf(0xa9); // the second byte of "é"
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.slice(0, cut));
      c.enqueue(bytes.slice(cut));
      c.enqueue(new TextEncoder().encode(":3}"));
      c.close();
    },
  });
  const lines: string[] = [];
  for await (const l of readLines(body)) lines.push(l);
  assert.deepEqual(lines, ['{"a":"é"}', '{"b":2}', '{"c":3}']);
});

Deno.test("readLines() and readText() throw the abort reason when their signal aborts mid-body", async () => {
  const pending = () => new ReadableStream<Uint8Array>({ start() {} }); // never sends, never ends
  const ac = new AbortController();
  const lines = readLines(pending(), ac.signal);
  const next = lines.next();
  ac.abort(new Error("stop"));
  await assert.rejects(next, /stop/);
  const ac2 = new AbortController();
  const text = readText(pending(), ac2.signal);
  ac2.abort(new Error("timeout"));
  await assert.rejects(text, /timeout/);
  assert.equal(await readText(stream(["a", "b"])), "ab");
});
