import { member, opsOf } from "./_ops.ts";
import assert from "node:assert/strict";
import { FakeIpset } from "./fake.ts";
import { IPSET_CMD } from "../../../src/dataplane/ipset/constants.ts";
import { ipsetErrorText } from "../../../src/dataplane/ipset/errtext.ts";
import { NetlinkIpset } from "../../../src/dataplane/ipset/netlink.ts";
import { openIpset } from "../../../src/dataplane/ipset/open.ts";
import { type IpsetOp, restoreText } from "../../../src/dataplane/ipset/ops.ts";
import { createOp, familySpecs } from "../../../src/dataplane/ipset/spec.ts";
import { FakeExec } from "../../../src/dataplane/exec.ts";
import { Attrs } from "../../../src/dataplane/netlink/reader.ts";
import { netlinkErrno } from "../../../src/dataplane/netlink/errno.ts";
import { KipvsError } from "../../../src/errors.ts";
import { ScriptedKernel } from "../netlink/_transport.ts";

Deno.test("restoreText() renders every op as the line ipset restore reads, and back", () => {
  const creates = [...familySpecs(4), ...familySpecs(6)].map(createOp);
  const ops: IpsetOp[] = [
    ...creates,
    { op: "add", set: "KUBE-CLUSTER-IP", member: member("10.96.0.1,tcp:443") },
    { op: "del", set: "KUBE-6-LOOP-BACK", member: member("fd00::1,tcp:80,fd00::1") },
    { op: "destroy", set: "KUBE-IPVS-IPS" },
    { op: "flush", set: "KUBE-NODE-PORT-TCP" },
  ];
  const text = restoreText(ops);
  const lines = text.split("\n");
  assert.equal(
    lines[0],
    "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536",
  );
  assert.ok(lines.includes("create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535"));
  assert.deepEqual(lines.slice(-5), [
    "add KUBE-CLUSTER-IP 10.96.0.1,tcp:443",
    "del KUBE-6-LOOP-BACK fd00::1,tcp:80,fd00::1",
    "destroy KUBE-IPVS-IPS",
    "flush KUBE-NODE-PORT-TCP",
    "",
  ]);
  assert.deepEqual(opsOf(text), ops);
  assert.equal(restoreText([]), "");
});

Deno.test("ipsetErrorText() says what ipset says, and which kernel answer it was", () => {
  const cases: [Parameters<typeof ipsetErrorText>, string][] = [
    [
      [4352, "add", "bitmap:port"],
      "Element is out of the range of the set (IPSET_ERR_BITMAP_RANGE)",
    ],
    [[4352, "add", "hash:ip"], "Hash is full, cannot add more elements (IPSET_ERR_HASH_FULL)"],
    [[2, "add", "hash:ip"], "The set with the given name does not exist (ENOENT)"],
    [
      [17, "create", "hash:ip"],
      "Set cannot be created: set with the same name already exists (EEXIST)",
    ],
    [[4103, "add"], "Element cannot be added to the set: it's already added (IPSET_ERR_EXIST)"],
    [
      [4100, "destroy"],
      "Set cannot be destroyed: it is in use by a kernel component (IPSET_ERR_BUSY)",
    ],
    [[1, "add"], "Kernel error received: Operation not permitted (EPERM)"],
    [[22, "add", "hash:ip,port"], "Kernel error received: Invalid argument (EINVAL)"],
    [
      [4400, "add", "hash:ip"],
      "Kernel error received: set type specific error 4400 (IPSET_ERR 4400)",
    ],
  ];
  for (const [args, text] of cases) assert.equal(ipsetErrorText(...args), text);
});

/**
 * A scripted ipset subsystem: answers PROTOCOL (7, min 6), TYPE (revision 5), HEADER from the
 * sets it holds; CREATE/DESTROY keep that list; ADD/DEL are recorded and refused per `refuse`.
 */
function ipsetKernel(refuse: (set: string, cmd: number, k: number) => number = () => 0) {
  const sets = new Map<string, { type: string; family: number }>();
  const log: string[] = [];
  let adds = 0;
  const kernel: ScriptedKernel = new ScriptedKernel({
    handle: (m) => {
      const cmd = m.type & 0xff;
      assert.equal(m.type >> 8, 6, "NFNL_SUBSYS_IPSET");
      const view = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.length);
      const a = new Attrs(view, 4, m.payload.length, 10);
      assert.equal(view.getUint8(a.offset(1)), 7, "PROTOCOL first");
      const name = a.string(2);
      const reply = (attrs: number[]) => {
        const body = new Uint8Array([...new Uint8Array([2, 0, 0, 0]), ...attrs]);
        const out = new Uint8Array(16 + body.length);
        const v = new DataView(out.buffer);
        v.setUint32(0, out.length, true);
        v.setUint16(4, m.type, true);
        v.setUint32(8, m.seq, true);
        out.set(body, 16);
        kernel.inject(out);
      };
      const u8 = (type: number, v: number) => [5, 0, type, 0, v, 0, 0, 0];
      const str = (type: number, s: string) => {
        const b = [...new TextEncoder().encode(s), 0];
        while (b.length % 4) b.push(0);
        return [4 + s.length + 1, 0, type, 0, ...b];
      };
      switch (cmd) {
        case IPSET_CMD.PROTOCOL:
          reply([...u8(1, 7), ...u8(10, 6)]);
          return 0;
        case IPSET_CMD.TYPE:
          log.push(`type ${a.string(3)}`);
          reply([...u8(1, 7), ...u8(4, 5), ...u8(10, 0)]);
          return 0;
        case IPSET_CMD.HEADER: {
          log.push(`header ${name}`);
          const s = sets.get(name);
          if (!s) return 2;
          reply([...u8(1, 7), ...str(2, name), ...str(3, s.type), ...u8(4, 5), ...u8(5, s.family)]);
          return 0;
        }
        case IPSET_CMD.CREATE:
          sets.set(name, { type: a.string(3), family: view.getUint8(a.offset(5)) });
          log.push(`create ${name} rev ${view.getUint8(a.offset(4))}`);
          return 0;
        case IPSET_CMD.DESTROY:
          log.push(`destroy ${name}`);
          return sets.delete(name) ? 0 : 2;
        default: {
          assert.equal(m.flags & 0x200, 0, "no NLM_F_EXCL: -exist");
          if (!sets.has(name)) return 2;
          return refuse(name, cmd, adds++);
        }
      }
    },
  });
  return { kernel, sets, log };
}

async function open(refuse?: (set: string, cmd: number, k: number) => number) {
  const k = ipsetKernel(refuse);
  const program = new FakeIpset();
  const ipset = await NetlinkIpset.open({ program, transport: k.kernel, firstSeq: 100 });
  return { ...k, program, ipset };
}

Deno.test("restore() sends a 1,200-line payload in sends of 512 and asks the type revision once", async () => {
  const { kernel, log, ipset, program } = await open();
  const lines = ["create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536"];
  for (let i = 0; i < 1200; i++) {
    lines.push(`add KUBE-CLUSTER-IP 10.96.${i >> 8}.${i & 255},tcp:80`);
  }
  lines.push("create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536");
  await ipset.apply(opsOf(lines.join("\n") + "\n"));
  assert.deepEqual(kernel.sends, [1, 1, 512, 512, 178]); // protocol, type, then the lines
  assert.deepEqual(log, [
    "type hash:ip,port",
    "create KUBE-CLUSTER-IP rev 5",
    "create KUBE-LOAD-BALANCER rev 5",
  ]);
  assert.equal(ipset.messagesSent, 2 + 1202);
  assert.deepEqual(program.restores, []);
});

Deno.test("restore() reads the type of a set the payload does not create, once per set", async () => {
  const { sets, log, ipset } = await open();
  sets.set("KUBE-6-IPVS-IPS", { type: "hash:ip", family: 10 });
  await ipset.apply(opsOf("add KUBE-6-IPVS-IPS fd00::1\ndel KUBE-6-IPVS-IPS FD00:0::2\n"));
  assert.deepEqual(log, ["header KUBE-6-IPVS-IPS"]);
});

Deno.test("restore() ignores what ipset restore -exist ignores", async () => {
  const { sets, ipset } = await open(() => 4103);
  sets.set("S", { type: "hash:ip", family: 2 });
  await ipset.apply(opsOf("add S 1.1.1.1\ndel S 1.1.1.2\ndestroy NEVER\n"));
});

Deno.test("restore() names the first refused line, and stops after its send", async () => {
  const { kernel, sets, ipset } = await open((
    _set,
    _cmd,
    k,
  ) => (k === 700 || k === 703 ? 4352 : 0));
  sets.set("P", { type: "bitmap:port", family: 0 });
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) lines.push(`add P ${i}`);
  const payload = lines.join("\n") + "\n";
  const err = await ipset.apply(opsOf(payload)).catch((e) => e);
  assert.ok(err instanceof KipvsError, String(err));
  assert.equal(netlinkErrno(err), 4352);
  assert.deepEqual(
    [err.details.line, err.details.errnoName, err.details.failed],
    [701, "IPSET_ERR_BITMAP_RANGE", 2],
  );
  assert.equal(
    err.message,
    "ipset restore over netlink failed at line 701: Element is out of the range of the set " +
      "(IPSET_ERR_BITMAP_RANGE) (and 1 more line(s) of its batch)\n" +
      "  699 | add P 698\n  700 | add P 699\n> 701 | add P 700\n  702 | add P 701\n  703 | add P 702",
  );
  assert.deepEqual(kernel.sends, [1, 1, 512, 512]); // protocol, header, two sends, no more
});

Deno.test("restore() lets the kernel refuse an entry of a missing set in its place", async () => {
  const { sets, ipset } = await open();
  sets.set("S", { type: "hash:ip", family: 2 });
  const err = await ipset.apply(opsOf("add S 1.1.1.1\nadd NOPE 1.1.1.1\nadd S 1.1.1.2\n")).catch((
    e,
  ) => e);
  assert.ok(err instanceof KipvsError);
  assert.equal(err.details.line, 2);
  assert.match(err.message, /at line 2: The set with the given name does not exist \(ENOENT\)/);
});

Deno.test("apply() hands the program ops on a set or of an entry it does not take", async () => {
  const { kernel, sets, ipset, program } = await open();
  sets.set("OTHER", { type: "hash:net", family: 2 });
  sets.set("S", { type: "hash:ip", family: 2 });
  const sends = kernel.sends.length;
  for (const p of ["add OTHER 10.0.0.0/8\n", "add S 1.1.1.1/24\n"]) {
    await ipset.apply(opsOf(p)).catch(() => {});
  }
  assert.equal(ipset.delegated, 2);
  assert.equal(program.restores.length, 2);
  assert.equal(kernel.sends.length, sends + 2); // the two header reads, nothing written
});

Deno.test("openIpset() falls back to the program when netlink cannot be opened, and says why", async () => {
  const logged: string[] = [];
  const logger = {
    info: (m: string) => logged.push(m),
    warn: (m: string, f?: Record<string, unknown>) => logged.push(`${m}: ${f?.reason}`),
  };
  const ipset = await openIpset({
    exec: new FakeExec(() => undefined),
    logger,
    openNetlink: () => {
      throw new Error("no ipset in this kernel");
    },
  });
  assert.equal(ipset.messagesSent, undefined);
  assert.deepEqual(logged, [
    "ipset over netlink unavailable; running the ipset program instead: no ipset in this kernel",
  ]);
  const k = ipsetKernel();
  const chosen = await openIpset({
    exec: new FakeExec(() => undefined),
    logger,
    openNetlink: (program) => NetlinkIpset.open({ program, transport: k.kernel }),
  });
  assert.ok(chosen instanceof NetlinkIpset);
  assert.equal(chosen.protocol, 7);
});
