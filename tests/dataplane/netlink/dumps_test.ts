import assert from "node:assert/strict";
import { NetlinkClient } from "../../../src/dataplane/netlink/client.ts";
import { ERRNO, netlinkErrno } from "../../../src/dataplane/netlink/errno.ts";
import type { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";
import { ScriptedKernel } from "./_transport.ts";

/** Item i asks for a dump of type 100 whose request carries i as a u32. */
const encode = (w: MessageWriter, item: number, flags: number, seq: number) => {
  w.begin(100, flags, seq);
  w.u32(1, item);
  w.end();
};
const u32At = (b: Uint8Array, at: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const itemOf = (payload: Uint8Array) => u32At(payload, 4);

/** Message j of item i's dump: [i, j] and `pad` bytes, so sizes can force many datagrams. */
function answer(i: number, j: number, pad = 0): Uint8Array {
  const b = new Uint8Array(8 + pad);
  const v = new DataView(b.buffer);
  v.setUint32(0, i, true);
  v.setUint32(4, j, true);
  return b;
}

/** Runs dumpEach() over `items` and returns, per item, the [i, j] pairs received in order. */
async function dumpAll(c: NetlinkClient, items: number[]): Promise<string[][]> {
  const got: string[][] = items.map(() => []);
  await c.dumpEach(items, encode, {
    what: (i) => `list things of ${i}`,
    onMessage: (index, view, m) => {
      const i = view.getUint32(m.offset + 16, true);
      const j = view.getUint32(m.offset + 20, true);
      got[index]?.push(`${i}.${j}`);
    },
  });
  return got;
}

const expected = (items: number[], count: (i: number) => number) =>
  items.map((i) => Array.from({ length: count(i) }, (_, j) => `${i}.${j}`));

Deno.test("dumpEach() pipelines 1,000 dumps 64 per system call and gives each answer to its item", async () => {
  const count = (i: number) => i % 7; // 0 to 6 messages: empty dumps too
  const kernel = new ScriptedKernel({
    handle: () => assert.fail("no plain requests"),
    dump: ({ payload }) => {
      const i = itemOf(payload);
      return Array.from({ length: count(i) }, (_, j) => answer(i, j));
    },
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, firstSeq: 0xffff_ff00 });
  const items = Array.from({ length: 1000 }, (_, i) => i);
  assert.deepEqual(await dumpAll(c, items), expected(items, count));
  assert.equal(kernel.pipelines, Math.ceil(1000 / 64));
  assert.equal(kernel.busy, 0, "each short dump ends before the next request");
  assert.deepEqual(c.dumpCounters, {
    pipelinedRuns: 16,
    pipelinedDumps: 1000,
    busyRetries: 0,
    sequentialDumps: 0,
  });
  assert.equal(c.messagesSent, 1000);
});

Deno.test("dumpEach() asks again, once the long dump ran out, for the dumps the kernel refused with EBUSY", async () => {
  // Item 3's 400 messages of 108 bytes fill 14 datagrams: the requests after it in its run
  // meet a running dump until the run's receives have drained it.
  const count = (i: number) => (i === 3 ? 400 : i === 10 ? 0 : 2);
  const kernel = new ScriptedKernel({
    handle: () => assert.fail("no plain requests"),
    dump: ({ payload }) => {
      const i = itemOf(payload);
      return Array.from({ length: count(i) }, (_, j) => answer(i, j, 84));
    },
    dumpPartBytes: 3200,
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel });
  const items = Array.from({ length: 100 }, (_, i) => i);
  assert.deepEqual(await dumpAll(c, items), expected(items, count));
  assert.ok(kernel.busy > 0, "the test must make the kernel refuse some dumps");
  const counters = c.dumpCounters;
  assert.equal(counters.busyRetries, kernel.busy, "every refused dump is asked again, once");
  assert.equal(counters.pipelinedDumps, 100 + kernel.busy);
  assert.equal(counters.sequentialDumps, 0);
});

Deno.test("dumpEach() reads a dump that outlasts its run to the end before the next run starts", async () => {
  // Item 63 closes the first run; its 20 datagrams outlast the run's two receives.
  const count = (i: number) => (i === 63 ? 300 : 1);
  const kernel = new ScriptedKernel({
    handle: () => assert.fail("no plain requests"),
    dump: ({ payload }) => {
      const i = itemOf(payload);
      return Array.from({ length: count(i) }, (_, j) => answer(i, j, 100));
    },
    dumpPartBytes: 2000,
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel });
  const items = Array.from({ length: 128 }, (_, i) => i);
  assert.deepEqual(await dumpAll(c, items), expected(items, count));
  assert.equal(kernel.busy, 0, "the second run found no dump running");
  assert.equal(kernel.pipelines, 2);
});

Deno.test("dumpEach() dumps one by one, with the same answers, where the socket cannot pipeline", async () => {
  const count = (i: number) => (i * 7) % 5;
  const dump = ({ payload }: { payload: Uint8Array }) => {
    const i = itemOf(payload);
    return Array.from({ length: count(i) }, (_, j) => answer(i, j, 500));
  };
  const kernel = new ScriptedKernel({
    handle: () => 0,
    dump,
    pipeline: false,
    dumpPartBytes: 1200,
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel });
  const items = Array.from({ length: 200 }, (_, i) => i);
  assert.deepEqual(await dumpAll(c, items), expected(items, count));
  assert.equal(kernel.pipelines, 0);
  assert.equal(kernel.sends.length, 200, "one send per dump");
  assert.deepEqual(c.dumpCounters, {
    pipelinedRuns: 0,
    pipelinedDumps: 0,
    busyRetries: 0,
    sequentialDumps: 200,
  });
});

Deno.test("dumpEach() throws a netlink error naming the item whose dump the kernel refused", async () => {
  for (const pipeline of [true, false]) {
    const kernel = new ScriptedKernel({
      handle: () => 0,
      dump: ({ payload }) => (itemOf(payload) === 70 ? ERRNO.EPERM : [answer(itemOf(payload), 0)]),
      pipeline,
    });
    const c = new NetlinkClient({ protocol: 16, transport: kernel });
    const err = await dumpAll(c, Array.from({ length: 100 }, (_, i) => i)).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(netlinkErrno(err), ERRNO.EPERM, `pipeline ${pipeline}`);
    assert.equal((err as Error).message, "list things of 70: Operation not permitted (EPERM)");
  }
});

Deno.test("dumpEach() ignores answers to earlier requests left on the socket", async () => {
  const kernel = new ScriptedKernel({
    handle: () => 0,
    dump: ({ payload }) => [answer(itemOf(payload), 0)],
  });
  const c = new NetlinkClient({ protocol: 16, transport: kernel, firstSeq: 500 });
  // A late acknowledgement, a late error and a late dump message of requests 490 to 492.
  const late = (type: number, seq: number, body: number) => {
    const b = new Uint8Array(20);
    const v = new DataView(b.buffer);
    v.setUint32(0, 20, true);
    v.setUint16(4, type, true);
    v.setUint32(8, seq, true);
    v.setInt32(16, body, true);
    return b;
  };
  kernel.inject(late(2, 490, 0));
  kernel.inject(late(2, 491, -ERRNO.EBUSY));
  kernel.inject(late(100, 492, 7));
  const items = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(await dumpAll(c, items), expected(items, () => 1));
  assert.equal(c.dumpCounters.busyRetries, 0);
});

Deno.test("ScriptedKernel runs dumps like the kernel: EBUSY while one runs, DONE made by a receive", () => {
  // The facts tests/kernel/guest/ipvs_read.guest.ts checks against the kernel itself.
  const kernel = new ScriptedKernel({
    handle: () => 0,
    dump: ({ payload }) => Array.from({ length: itemOf(payload) }, (_, j) => answer(0, j)),
  });
  const requests = (items: number[]) => {
    const bytes: number[] = [];
    items.forEach((n, k) => {
      const b = new Uint8Array(24);
      const v = new DataView(b.buffer);
      v.setUint32(0, 24, true);
      v.setUint16(4, 100, true);
      v.setUint16(6, 0x301, true); // NLM_F_REQUEST | NLM_F_DUMP
      v.setUint32(8, k, true);
      v.setUint32(20, n, true);
      bytes.push(...b);
    });
    return Uint8Array.from(bytes);
  };
  const kinds = () => {
    const out: string[] = [];
    for (;;) {
      const r = kernel.receive();
      if (r.kind !== "data") return out;
      const d = r.datagrams[0]!;
      const type = kernel.view.getUint16(d.offset + 4, true);
      const seq = kernel.view.getUint32(d.offset + 8, true);
      out.push(
        type === 3
          ? `done@${seq}`
          : type === 2
          ? `error${-kernel.view.getInt32(d.offset + 16, true)}@${seq}`
          : `data@${seq}`,
      );
    }
  };
  kernel.send(requests([3, 0, 2])); // a dump of 3 messages, an empty one, one of 2
  assert.deepEqual(kinds(), ["data@0", "error16@1", "error16@2", "done@0"]);
  kernel.send(requests([0, 0, 3, 2]));
  assert.deepEqual(kinds(), ["done@0", "done@1", "data@2", "error16@3", "done@2"]);
});
