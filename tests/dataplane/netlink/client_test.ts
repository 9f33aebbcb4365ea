import assert from "node:assert/strict";
import { NetlinkClient, OUTCOME_UNKNOWN } from "../../../src/dataplane/netlink/client.ts";
import { NLM_F_ACK } from "../../../src/dataplane/netlink/constants.ts";
import { ERRNO, netlinkErrno, netlinkError } from "../../../src/dataplane/netlink/errno.ts";
import type { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";
import { ScriptedKernel } from "./_transport.ts";

/** Each item becomes a message of type 100 carrying the item as a u32. */
const encode = (w: MessageWriter, item: number, flags: number, seq: number) => {
  w.begin(100, flags, seq);
  w.u32(1, item);
  w.end();
};
const itemOf = (payload: Uint8Array) =>
  new DataView(payload.buffer, payload.byteOffset).getUint32(4, true);

Deno.test("exchange() matches error replies back to items and never stops at one", async () => {
  const kernel = new ScriptedKernel({
    handle: ({ payload }) => {
      const item = itemOf(payload);
      return item === 7 ? ERRNO.EEXIST : item % 1000 === 999 ? ERRNO.ESRCH : 0;
    },
  });
  const c = new NetlinkClient({
    protocol: 16,
    transport: kernel,
    maxPerSend: 256,
    firstSeq: 0xffff_fff0,
  });
  const items = Array.from({ length: 10_000 }, (_, i) => i);
  const errnos = await c.exchange(items, encode, "test batch");
  assert.equal(errnos.length, 10_000);
  assert.equal(errnos[7], ERRNO.EEXIST);
  assert.equal(errnos[999], ERRNO.ESRCH);
  assert.equal(errnos[9999], ERRNO.ESRCH);
  const failed = [...errnos].filter((e) => e !== 0).length;
  assert.equal(failed, 11);
  assert.equal(c.messagesSent, 10_000);
  assert.equal(kernel.sends.length, Math.ceil(10_000 / 256), "256 messages per send");
});

Deno.test("exchange() asks for an acknowledgement only on the last message of each send", async () => {
  const acked: number[] = [];
  const kernel = new ScriptedKernel({
    handle: ({ flags, payload }) => {
      if (flags & NLM_F_ACK) acked.push(itemOf(payload));
      return 0;
    },
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, maxPerSend: 4 });
  const errnos = await c.exchange([0, 1, 2, 3, 4, 5], encode, "t");
  assert.deepEqual([...errnos], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(acked, [3, 5]);
  assert.deepEqual(kernel.sends, [4, 2]);
});

Deno.test("exchange() sends fewer per datagram after a send that kept the kernel over its budget", async () => {
  // Each request holds the "kernel" at least 1 ms: the first send of 64 takes 64 ms or more, so
  // with a 10 ms budget the next sends carry at most 10 (a loaded machine only makes it fewer).
  const busy = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* the kernel's work */ }
  };
  const kernel = new ScriptedKernel({ handle: () => (busy(1), 0) });
  const c = new NetlinkClient({
    protocol: 16,
    transport: kernel,
    maxPerSend: 64,
    sendBudgetMs: 10,
  });
  await c.exchange(Array.from({ length: 100 }, (_, i) => i), encode, "t");
  assert.equal(kernel.sends[0], 64);
  assert.ok(kernel.sends.slice(1).every((n) => n <= 10), String(kernel.sends));
  assert.equal(kernel.sends.reduce((a, b) => a + b, 0), 100);
  // Without a budget (the default on a given transport) the split follows only the maximum.
  const plain = new ScriptedKernel({ handle: () => (busy(1), 0) });
  await new NetlinkClient({ protocol: 16, transport: plain, maxPerSend: 64 })
    .exchange(Array.from({ length: 100 }, (_, i) => i), encode, "t");
  assert.deepEqual(plain.sends, [64, 36]);
});

Deno.test("exchange() sends fewer per datagram when the receive buffer could not hold every error", async () => {
  const kernel = new ScriptedKernel({ handle: () => ERRNO.ENOENT, receiveBufferBytes: 64 * 1024 });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, maxPerSend: 512 });
  assert.equal(c.maxPerSend, 32);
  const errnos = await c.exchange(Array.from({ length: 100 }, (_, i) => i), encode, "t");
  assert.ok([...errnos].every((e) => e === ERRNO.ENOENT));
  assert.deepEqual(kernel.sends, [32, 32, 32, 4]);
});

Deno.test("exchange() splits sends at the send buffer's size", async () => {
  const kernel = new ScriptedKernel({ handle: () => 0, sendBufferBytes: 4096 + 8192 });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, maxPerSend: 10_000 });
  await c.exchange(Array.from({ length: 2000 }, (_, i) => i), encode, "t");
  // 24-byte messages, at most 8192 bytes per send: 341 full ones and a remainder.
  assert.ok(kernel.sends.every((n) => n * 24 <= 8192), String(kernel.sends));
  assert.equal(kernel.sends.reduce((a, b) => a + b, 0), 2000);
});

Deno.test("exchange() calls outcomes lost to an overrun unknown, and keeps the ones it saw", async () => {
  const kernel = new ScriptedKernel({
    handle: ({ payload }) => (itemOf(payload) < 6 ? ERRNO.EEXIST : 0),
    dropAfter: 3,
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, maxPerSend: 10 });
  const errnos = await c.exchange(Array.from({ length: 10 }, (_, i) => i), encode, "t");
  assert.deepEqual([...errnos.subarray(0, 3)], [ERRNO.EEXIST, ERRNO.EEXIST, ERRNO.EEXIST]);
  for (let i = 3; i < 10; i++) assert.equal(errnos[i], OUTCOME_UNKNOWN, `item ${i}`);
});

Deno.test("request() and dump() throw a netlink error with the kernel's errno", async () => {
  const kernel = new ScriptedKernel({ handle: () => ERRNO.EPERM });
  const c = new NetlinkClient({ protocol: 16, transport: kernel });
  const err = await c.dump((w, f, s) => encode(w, 1, f, s), "list things", () => {}).then(
    () => undefined,
    (e) => e,
  );
  assert.equal(netlinkErrno(err), ERRNO.EPERM);
  assert.match((err as Error).message, /^list things: Operation not permitted \(EPERM\)$/);
  await assert.rejects(
    () => c.request((w, f, s) => encode(w, 1, f, s), "get thing", () => 1),
    /get thing: Operation not permitted \(EPERM\)/,
  );
});

Deno.test("request() times out with ETIMEDOUT when the kernel never answers", async () => {
  const kernel = new ScriptedKernel({ handle: () => 0 }); // no ACK asked: silence
  const c = new NetlinkClient({ protocol: 16, transport: kernel, replyTimeoutMs: 1 });
  const err = await c.request((w, f, s) => encode(w, 1, f, s), "get thing", () => 1).then(
    () => assert.fail("no error"),
    (e) => e,
  );
  assert.equal(netlinkErrno(err), ERRNO.ETIMEDOUT);
});

Deno.test("exchange() fails the requests of a refused send alike and goes on with the next", async () => {
  let sends = 0;
  const kernel = new ScriptedKernel({ handle: () => 0 });
  const refusing = Object.assign(Object.create(kernel), {
    view: kernel.view,
    send(bytes: Uint8Array, what: string) {
      if (sends++ === 1) throw netlinkError({ what, errno: ERRNO.EPERM });
      kernel.send(bytes);
    },
    receive: () => kernel.receive(),
  });
  const c = new NetlinkClient({ protocol: 16, transport: refusing, maxPerSend: 2 });
  const errnos = await c.exchange([0, 1, 2, 3, 4, 5], encode, "t");
  assert.deepEqual([...errnos], [0, 0, ERRNO.EPERM, ERRNO.EPERM, 0, 0]);
  assert.equal(c.messagesSent, 4, "only what went out counts");
});

Deno.test("requestEach() passes each answer to its item, many requests per send, and says which were refused or lost", async () => {
  const kernel = new ScriptedKernel({
    handle: ({ payload }) => itemOf(payload) % 10 === 3 ? ERRNO.ESRCH : 0,
    reply: ({ payload }) => {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setUint32(4, itemOf(payload) * 2, true);
      return out;
    },
    receiveBufferBytes: 64 * 8192,
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, maxPerSend: 512 });
  const answers = new Map<number, number>();
  const items = Array.from({ length: 100 }, (_, i) => i);
  const errnos = await c.requestEach(items, encode, "t", (i, view, m) => {
    answers.set(items[i]!, view.getUint32(m.offset + 20, true));
  });
  assert.deepEqual(kernel.sends, [32, 32, 32, 4], "answers of one send fit half the buffer");
  assert.deepEqual([...errnos].map((e, i) => [i, e]).filter(([, e]) => e !== 0).map(([i]) => i), [
    3,
    13,
    23,
    33,
    43,
    53,
    63,
    73,
    83,
    93,
  ]);
  assert.ok([...errnos].every((e, i) => e === (i % 10 === 3 ? ERRNO.ESRCH : 0)));
  assert.equal(answers.size, 90);
  assert.ok([...answers].every(([item, v]) => v === item * 2 && item % 10 !== 3));

  const lossy = new ScriptedKernel({
    handle: () => 0,
    reply: () => new Uint8Array(8),
    dropAfter: 5,
  });
  const d = new NetlinkClient({ protocol: 16, transport: lossy, maxPerSend: 8 });
  const lost = await d.requestEach([0, 1, 2, 3, 4, 5, 6, 7], encode, "t", () => {});
  assert.deepEqual([...lost], [0, 0, 0, 0, 0, ...Array(3).fill(OUTCOME_UNKNOWN)]);
});
