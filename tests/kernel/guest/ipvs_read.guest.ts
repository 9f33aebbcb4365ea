/**
 * Reads of large IPVS tables against the guest's kernel: how the kernel answers several dump
 * requests (the facts the pipelined reads rest on), reads pipelined through io_uring checked
 * line for line against ipvsadm and against reads one dump at a time, the EBUSY path, and
 * services that vanish between the service dump and the real-server dumps. Runs as root in
 * the root network namespace; booted by tests/kernel/ipvs_test.ts.
 */

import assert from "node:assert/strict";
import { KernelIpvs } from "../../../src/dataplane/ipvs/kernel.ts";
import { beginIpvs, putService } from "../../../src/dataplane/ipvs/codec.ts";
import { CMD } from "../../../src/dataplane/ipvs/constants.ts";
import { formatRules, serviceSpec } from "../../../src/dataplane/ipvs/rules.ts";
import type { IpvsOp, ServiceEntry, ServiceKey } from "../../../src/dataplane/ipvs/types.ts";
import {
  NETLINK_GENERIC,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
} from "../../../src/dataplane/netlink/constants.ts";
import { ERRNO, netlinkErrno } from "../../../src/dataplane/netlink/errno.ts";
import { addressOf } from "../../../src/dataplane/netlink/ffi.ts";
import { messages } from "../../../src/dataplane/netlink/reader.ts";
import { IORING_OP_RECV, Uring } from "../../../src/dataplane/netlink/uring.ts";
import { type Datagram, NetlinkSocket } from "../../../src/dataplane/netlink/socket.ts";
import { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";
import { rs, vs } from "../../dataplane/ipvs/_scenario.ts";
import { ipvsadmSave, run, sortedLines } from "./_run.ts";

const ipvs = KernelIpvs.open();
const rules = (t: ServiceEntry[]) => sortedLines(formatRules(t));
const tcp = (i: number): ServiceKey => ({
  family: 4,
  protocol: "TCP",
  address: `10.97.${i >> 8}.${i & 255}`,
  port: 80,
});

/** Adds `key` with `n` real servers (unique addresses from `base`). */
function withDestinations(key: ServiceKey, n: number, base: number): IpvsOp[] {
  const ops: IpvsOp[] = [{ op: "add-service", service: vs(key) }];
  for (let j = 0; j < n; j++) {
    const a = base + j;
    const address = key.family === 6
      ? `fd00:244::${a.toString(16)}`
      : `10.${128 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}`;
    ops.push({ op: "add-destination", service: key, destination: rs(address, 8080) });
  }
  return ops;
}

async function load(ops: IpvsOp[]): Promise<void> {
  await ipvs.flush();
  const failed = (await ipvs.apply(ops)).filter((r) => !r.ok);
  assert.deepEqual(failed.map((r) => !r.ok && r.error.message), []);
}

/** What a raw socket receives, as "data@k" / "error16@k" / "done@k" (k: request index). */
function kinds(view: DataView, datagrams: readonly Datagram[], first: number): string[] {
  const out: string[] = [];
  for (const d of datagrams) {
    const seen = new Set<string>();
    for (const m of messages(view, d.length, d.offset)) {
      const k = m.seq - first;
      const kind = m.type === NLMSG_DONE
        ? `done@${k}`
        : m.type === NLMSG_ERROR
        ? `error${-view.getInt32(m.offset + 16, true)}@${k}`
        : `data@${k}`;
      if (!seen.has(kind)) out.push(kind); // a datagram's messages of one request count once
      seen.add(kind);
    }
  }
  return out;
}

/** GET_DEST dump requests for `keys`, back to back, sequence numbers from `first`. */
function destRequests(family: number, keys: ServiceKey[], first: number) {
  const w = new MessageWriter();
  const ends: number[] = [];
  keys.forEach((key, k) => {
    beginIpvs(w, { family, cmd: CMD.GET_DEST, flags: NLM_F_REQUEST | NLM_F_DUMP, seq: first + k });
    putService(w, key);
    w.end();
    ends.push(w.length);
  });
  return { bytes: w.bytes(), ends };
}

Deno.test("the kernel runs one dump at a time: a second dump request in one send gets EBUSY, an empty dump ends at once", async () => {
  await load([
    ...withDestinations(tcp(0), 3, 0),
    ...withDestinations(tcp(1), 0, 0),
    ...withDestinations(tcp(2), 2, 10),
  ]);
  const sock = NetlinkSocket.open({ protocol: NETLINK_GENERIC, datagramsPerReceive: 32 });
  try {
    const family = sock.resolveFamily("IPVS");
    const all = (first: number) => {
      const out: string[] = [];
      for (;;) {
        const r = sock.receive(500);
        if (r.kind !== "data") return out;
        out.push(...kinds(sock.view, r.datagrams, first));
      }
    };
    // Three dumps in one datagram: the first runs (its end comes only once its data is
    // received), the two behind it are refused; the same facts ScriptedKernel models.
    sock.send(destRequests(family, [tcp(0), tcp(1), tcp(2)], 100).bytes, "dumps");
    assert.deepEqual(all(100), ["data@0", "error16@1", "error16@2", "done@0"]);
    // Empty dumps end within the send, so the next request in the datagram can start.
    sock.send(destRequests(family, [tcp(1), tcp(1), tcp(0), tcp(2)], 200).bytes, "dumps");
    assert.deepEqual(all(200), ["done@0", "done@1", "data@2", "error16@3", "done@2"]);
  } finally {
    sock.close();
  }
});

Deno.test("io_uring carries a chain of sends and receives: each receive takes what the send before it made", async () => {
  await load([
    ...withDestinations(tcp(0), 3, 0),
    ...withDestinations(tcp(1), 0, 0),
    ...withDestinations(tcp(2), 2, 10),
  ]);
  const sock = NetlinkSocket.open({ protocol: NETLINK_GENERIC });
  try {
    const family = sock.resolveFamily("IPVS");
    const req = destRequests(family, [tcp(0), tcp(1), tcp(2)], 300);
    const r = sock.pipeline({ ...req, receivesPerSend: 2, timeoutMs: 5000 }, "pipelined dumps");
    assert.ok(r, `no pipeline: ${sock.pipelineUnavailable}`);
    // The second receive after the empty dump found nothing (EAGAIN) and gave no datagram.
    assert.deepEqual(kinds(r.view, r.datagrams, 300), [
      "data@0",
      "done@0",
      "done@1",
      "data@2",
      "done@2",
    ]);
    assert.equal(sock.receive(0).kind, "timeout", "nothing left on the socket");
  } finally {
    sock.close();
  }
});

Deno.test("an io_uring run that cannot complete stops at its bound instead of hanging", () => {
  const sock = NetlinkSocket.open({ protocol: NETLINK_GENERIC });
  const ring = Uring.open({ entries: 4, ops: [IORING_OP_RECV] });
  assert.ok(ring instanceof Uring, `no io_uring: ${JSON.stringify(ring)}`);
  try {
    // A receive that may wait, on a socket nothing will arrive on.
    const buf = new Uint8Array(4096);
    ring.add({
      op: IORING_OP_RECV,
      fd: sock.fd,
      addr: addressOf(buf),
      len: 4096,
      msgFlags: 0,
      flags: 0,
    });
    const t0 = performance.now();
    assert.throws(() => ring.run(300), (e: Error) => netlinkErrno(e) === ERRNO.ETIMEDOUT);
    const ms = performance.now() - t0;
    assert.ok(ms >= 290 && ms < 5000, `waited ${ms} ms`);
  } finally {
    ring.close(); // cancels the receive
    sock.close();
  }
});

Deno.test("Uring.open() says why there is no ring rather than failing later", () => {
  // More entries than the kernel allows (32,768): io_uring_setup() refuses.
  const big = Uring.open({ entries: 1 << 20, ops: [] });
  assert.deepEqual(big, {
    unavailable: "io_uring_setup() failed (not in this kernel, or refused)",
  });
  // An operation this kernel does not have (6.1 stops at 47).
  assert.deepEqual(Uring.open({ entries: 4, ops: [IORING_OP_RECV, 200] }), {
    unavailable: "io_uring lacks operation 200",
  });
});

Deno.test("readAll() of 3,000 services pipelined reads what ipvsadm -Sn and one-by-one dumps read: IPv6, fwmark, empty and 2,000 real servers", async () => {
  const ops: IpvsOp[] = [];
  for (let i = 0; i < 2900; i++) ops.push(...withDestinations(tcp(i), i % 4, i * 4));
  for (let i = 0; i < 90; i++) {
    const key: ServiceKey = { family: 6, protocol: "UDP", address: `fd00::${i + 1}`, port: 53 };
    ops.push(...withDestinations(key, i % 3, 20_000 + i * 3));
  }
  for (let i = 0; i < 8; i++) {
    ops.push(...withDestinations({ family: i % 2 ? 6 : 4, fwmark: 100 + i }, 2, 30_000 + i * 2));
  }
  ops.push(
    ...withDestinations({ family: 4, protocol: "SCTP", address: "10.98.0.1", port: 1 }, 1, 40_000),
  );
  ops.push(...withDestinations(tcp(3000), 2000, 50_000));
  await load(ops);

  const table = await ipvs.readAll();
  assert.equal(table.length, 3000);
  assert.equal(
    table.reduce((n, s) => n + s.destinations.length, 0),
    2900 * 1.5 + 90 + 16 + 1 + 2000,
  );
  assert.deepEqual(rules(table), await ipvsadmSave());
  const big = table.find((s) => serviceSpec(s.key) === "-t 10.97.11.184:80");
  assert.equal(big?.destinations.length, 2000);
  assert.ok(ipvs.dumpCounters.pipelinedRuns >= Math.ceil(3000 / 64));
  assert.equal(ipvs.dumpCounters.sequentialDumps, 0);

  const oneByOne = KernelIpvs.open({ pipeline: false });
  try {
    assert.deepEqual(await oneByOne.readAll(), table, "counters included: nothing moved");
    assert.equal(oneByOne.dumpCounters.sequentialDumps, 3000);
    assert.equal(oneByOne.dumpCounters.pipelinedRuns, 0);
    assert.equal(oneByOne.pipelineUnavailable, "pipelining turned off");
    assert.equal(ipvs.pipelineUnavailable, undefined);
  } finally {
    oneByOne.close();
  }
  // Without counters: the same entries, no stats.
  const lean = await ipvs.readAll({ counters: false });
  const strip = (t: ServiceEntry[]) =>
    t.map(({ stats: _s, destinations, ...s }) => ({
      ...s,
      destinations: destinations.map(({ stats: _d, ...d }) => d),
    }));
  assert.deepEqual(lean, strip(table));
  assert.ok(lean.every((s) => !("stats" in s) && s.destinations.every((d) => !("stats" in d))));
});

Deno.test("listDestinationsOf() asks again for the dumps refused while a 2,000-real-server dump ran (EBUSY)", async () => {
  const ops: IpvsOp[] = [...withDestinations(tcp(0), 2000, 0)];
  for (let i = 1; i <= 150; i++) ops.push(...withDestinations(tcp(i), i % 3, 5000 + i * 3));
  await load(ops);
  const keys = Array.from({ length: 151 }, (_, i) => tcp(i));
  const before = ipvs.dumpCounters;
  // The big service opens the first run: the requests behind it meet its running dump.
  const got = await ipvs.listDestinationsOf(keys);
  const after = ipvs.dumpCounters;
  assert.ok(after.busyRetries > before.busyRetries, "the kernel refused some dumps (EBUSY)");
  assert.equal(after.sequentialDumps, before.sequentialDumps);
  const want = [];
  for (const key of keys) want.push(await ipvs.listDestinations(key));
  assert.deepEqual(got, want);
  assert.deepEqual(got.map((d) => d.length), keys.map((_, i) => (i === 0 ? 2000 : i % 3)));
});

Deno.test("listDestinationsOf() gives [] for services deleted after the service dump", async () => {
  const ops: IpvsOp[] = [];
  for (let i = 0; i < 200; i++) ops.push(...withDestinations(tcp(i), 2, i * 2));
  await load(ops);
  const keys = (await ipvs.listServices()).map((s) => s.key);
  assert.equal(keys.length, 200);
  // Another program deletes every tenth service between the two dumps.
  const gone = new Set<string>();
  for (let i = 0; i < 200; i += 10) {
    await run("ipvsadm", "-D", "-t", `10.97.0.${i}:80`);
    gone.add(serviceSpec(tcp(i)));
  }
  const got = await ipvs.listDestinationsOf(keys);
  keys.forEach((key, k) => {
    const n = gone.has(serviceSpec(key)) ? 0 : 2;
    assert.equal(got[k]?.length, n, serviceSpec(key));
  });
  assert.equal((await ipvsadmSave()).length, 180 * 3);
  await ipvs.flush();
});
