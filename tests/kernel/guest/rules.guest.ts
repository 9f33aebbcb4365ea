/**
 * Runs inside the test guest (see tests/kernel/rules_test.ts): kipvs's ipset and iptables
 * backends against the real `ipset` and the cell's `iptables-<backend>-*` (KIPVS_BACKEND: legacy
 * on Linux 6.1, nft on 6.12). The tests run in order and share the kernel's state: apply, rerun,
 * change, errors, repair, cleanup.
 */
import { member, members, opsOf } from "../../dataplane/ipset/_ops.ts";
import type { SetMembers } from "../../../src/dataplane/members.ts";
import assert from "node:assert/strict";
import {
  type Exec,
  type ExecOptions,
  type ExecResult,
  SystemExec,
} from "../../../src/dataplane/exec.ts";
import { destroyKubeSets } from "../../../src/dataplane/ipset/cleanup.ts";
import { KernelIpset } from "../../../src/dataplane/ipset/ipset.ts";
import { IpsetModel } from "../../dataplane/ipset/model.ts";
import { parseIpsetSave } from "../../../src/dataplane/ipset/save.ts";
import { familySpecs, HASH_SIZE, MAX_ELEM } from "../../../src/dataplane/ipset/spec.ts";
import type { IpsetSnapshot } from "../../../src/dataplane/ipset/save.ts";
import { cleanupIptables } from "../../../src/dataplane/iptables/cleanup.ts";
import { KernelIptables } from "../../../src/dataplane/iptables/iptables.ts";
import { IptablesModel } from "../../dataplane/iptables/model.ts";
import { planRules } from "../../../src/plan/rules.ts";
import { renderIptables } from "../../../src/dataplane/iptables/render.ts";
import { parseIptablesSave } from "../../../src/dataplane/iptables/save.ts";
import { syncSetsAndRules } from "../../reconcile/_sets_and_rules.ts";
import { KipvsError } from "../../../src/errors.ts";
import { SCENARIO_CONFIG, scenarioSets } from "../../dataplane/iptables/_scenario.ts";

/** Runs programs for real and remembers each call (program, args, stdin). */
class RecordingExec implements Exec {
  calls: { argv: string[]; stdin?: string }[] = [];
  #inner = new SystemExec();
  run(program: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    const stdin = typeof options?.stdin === "string" ? options.stdin : undefined;
    this.calls.push({ argv: [program, ...args], ...(stdin === undefined ? {} : { stdin }) });
    return this.#inner.run(program, args, options);
  }
  restores(): { argv: string[]; stdin?: string }[] {
    return this.calls.filter((c) => c.argv[0]!.endsWith("restore") || c.argv[1] === "restore");
  }
}

const sys = new SystemExec();
async function run(program: string, args: string[], stdin?: string): Promise<ExecResult> {
  return await sys.run(program, args, stdin === undefined ? {} : { stdin });
}
async function out(program: string, ...args: string[]): Promise<string> {
  const r = await run(program, args);
  assert.equal(r.code, 0, `${program} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const BACKEND = Deno.env.get("KIPVS_BACKEND") === "nft" ? "nft" : "legacy";
/** The cell's programs: prog(4) is "iptables-legacy", prog(6, "save") "ip6tables-legacy-save". */
const prog = (family: 4 | 6, verb?: "save" | "restore") =>
  `${family === 4 ? "iptables" : "ip6tables"}-${BACKEND}${verb ? `-${verb}` : ""}`;

const exec = new RecordingExec();
const ipset = new KernelIpset(exec);
const iptables = new KernelIptables({ exec, backend: BACKEND });
const config = SCENARIO_CONFIG;

function scenario(): Map<string, SetMembers> {
  const sets = scenarioSets();
  // IPv6 written the long way: its member must compare equal to what ipset prints.
  sets.set("KUBE-6-LOAD-BALANCER", members("fd00:0:0:0::20,tcp:80"));
  sets.set("KUBE-6-LOAD-BALANCER-FW", members("fd00:0:0:0::20,tcp:80"));
  sets.set("KUBE-6-LOAD-BALANCER-SOURCE-CID", members("fd00::20,tcp:80,fd00:100:0:0::/64"));
  sets.set("KUBE-6-IPVS-IPS", members("fd00:96::10", "FD00::20"));
  return sets;
}
let desired = scenario();

const byKey = (a: { key: string }, b: { key: string }) => a.key < b.key ? -1 : 1;

/** Asserts that `ipset save` and `ip[6]tables-<backend>-save` hold exactly what was asked. */
async function assertKernelMatches(
  sets: Map<string, SetMembers>,
  cfg: typeof config = config,
): Promise<void> {
  const saved = parseIpsetSave(await out("ipset", "save"));
  for (const family of [4, 6] as const) {
    for (const spec of familySpecs(family)) {
      const k = saved.get(spec.name);
      assert.ok(k, `set ${spec.name} missing`);
      assert.equal(k.type, spec.type, spec.name);
      if (spec.type === "bitmap:port") assert.deepEqual(k.options.range, [0, 65535]);
      else {
        assert.equal(k.options.family, spec.family, spec.name);
        assert.equal(k.options.hashsize, HASH_SIZE, spec.name);
        assert.equal(k.options.maxelem, MAX_ELEM, spec.name);
      }
      const want = [...(sets.get(spec.name) ?? new Map()).values()];
      assert.deepEqual([...k.members.values()].sort(byKey), want.sort(byKey), spec.name);
    }
  }
  for (const family of [4, 6] as const) {
    const rules = renderIptables(planRules({ family, config: cfg, ipsets: sets }));
    const save = parseIptablesSave(await out(prog(family, "save")));
    for (const table of ["nat", "filter"] as const) {
      for (const chain of rules.tables[table].chains) {
        assert.deepEqual(
          save.get(table)?.get(chain)?.rules,
          rules.tables[table].rules.get(chain),
          `IPv${family} ${table}/${chain}`,
        );
      }
    }
    const builtin = (table: string, chain: string) => save.get(table)!.get(chain)!.rules;
    const jump = (from: string, comment: string, to: string) =>
      `-A ${from} -m comment --comment "${comment}" -j ${to}`;
    assert.deepEqual(builtin("filter", "INPUT").slice(0, 3), [
      jump("INPUT", "kubernetes ipvs access filter", "KUBE-IPVS-FILTER"),
      jump("INPUT", "kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"),
      jump("INPUT", "kubernetes health check rules", "KUBE-NODE-PORT"),
    ]);
    assert.deepEqual(builtin("filter", "FORWARD").slice(0, 2), [
      jump("FORWARD", "kube-proxy firewall rules", "KUBE-PROXY-FIREWALL"),
      jump("FORWARD", "kubernetes forwarding rules", "KUBE-FORWARD"),
    ]);
    assert.deepEqual(builtin("filter", "OUTPUT").slice(0, 1), [
      jump("OUTPUT", "kubernetes ipvs access filter", "KUBE-IPVS-OUT-FILTER"),
    ]);
    for (const from of ["PREROUTING", "OUTPUT"]) {
      assert.deepEqual(builtin("nat", from).slice(0, 1), [
        jump(from, "kubernetes service portals", "KUBE-SERVICES"),
      ]);
    }
    assert.deepEqual(builtin("nat", "POSTROUTING").slice(0, 1), [
      jump("POSTROUTING", "kubernetes postrouting rules", "KUBE-POSTROUTING"),
    ]);
  }
}

Deno.test("the first sync creates every set and chain, and the kernel reads back equal", async () => {
  // Somebody else's rules and sets, which must survive everything below.
  await out("ipset", "create", "other-set", "hash:ip");
  await out(prog(4), "-A", "INPUT", "-s", "10.1.2.3/32", "-j", "ACCEPT");
  await out(
    prog(4),
    "-t",
    "nat",
    "-A",
    "POSTROUTING",
    "-s",
    "10.9.0.0/16",
    "-j",
    "MASQUERADE",
  );
  const r = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  assert.equal(r.writes, 3);
  assert.equal(r.ipset.created.length, 34);
  assert.deepEqual(exec.restores().map((c) => c.argv), [
    ["ipset", "restore", "-exist"],
    [prog(4, "restore"), "-w", "5", "--noflush"],
    [prog(6, "restore"), "-w", "5", "--noflush"],
  ]);
  await assertKernelMatches(desired);
  console.log("=== ipset save\n" + await out("ipset", "save"));
  console.log(`=== ${prog(4, "save")}\n` + await out(prog(4, "save")));
  console.log(`=== ${prog(6, "save")}\n` + await out(prog(6, "save")));
});

Deno.test("a second sync with the same input runs no restore at all", async () => {
  exec.calls = [];
  const r = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  assert.equal(r.writes, 0);
  assert.deepEqual(exec.restores(), []);
  assert.deepEqual(exec.calls.map((c) => c.argv), [
    ["ipset", "save"],
    [prog(4, "save")],
    [prog(6, "save")],
  ]);
});

Deno.test("a sync trusting the previous snapshot skips ipset save, and the snapshot was right", async () => {
  const first = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  const view = (s: IpsetSnapshot) =>
    [...s.values()].filter((k) => k.name.startsWith("KUBE-")).map((k) => [
      k.name,
      k.type,
      [k.options.family, k.options.hashsize, k.options.maxelem, k.options.range],
      [...k.members.keys()].sort(),
    ]).sort();
  assert.deepEqual(view(first.ipsetSnapshot), view(parseIpsetSave(await out("ipset", "save"))));
  exec.calls = [];
  const r = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
    ipsetSnapshot: first.ipsetSnapshot,
  });
  assert.equal(r.writes, 0);
  assert.deepEqual(exec.calls.map((c) => c.argv), [[prog(4, "save")], [prog(6, "save")]]);
});

Deno.test("a changed input writes only the differing entries and chains", async () => {
  exec.calls = [];
  desired = scenario();
  for (const s of ["KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER-FW"]) {
    desired.get(s)!.delete("203.0.113.10,tcp:80");
  }
  desired.get("KUBE-LOAD-BALANCER-SOURCE-CIDR")!.delete("203.0.113.10,tcp:80,192.168.100.10");
  desired.get("KUBE-IPVS-IPS")!.delete("203.0.113.10");
  desired.get("KUBE-CLUSTER-IP")!.set("10.96.0.12,tcp:8443", member("10.96.0.12,tcp:8443"));
  desired.get("KUBE-IPVS-IPS")!.set("10.96.0.12", member("10.96.0.12"));
  const r = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  assert.equal(r.writes, 2);
  const [sets, v4] = exec.restores();
  assert.equal(
    sets!.stdin,
    [
      "add KUBE-CLUSTER-IP 10.96.0.12,tcp:8443",
      "del KUBE-LOAD-BALANCER 203.0.113.10,tcp:80",
      "del KUBE-LOAD-BALANCER-FW 203.0.113.10,tcp:80",
      "del KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,192.168.100.10",
      "del KUBE-IPVS-IPS 203.0.113.10",
      "add KUBE-IPVS-IPS 10.96.0.12",
      "",
    ].join("\n"),
  );
  // The only rule that changes: node access to 203.0.113.10 is no longer dropped.
  assert.equal(v4!.stdin, "*filter\n:KUBE-IPVS-OUT-FILTER - [0:0]\nCOMMIT\n");
  await assertKernelMatches(desired);
});

Deno.test("a bad ipset payload is reported with the offending line and its neighbours", async () => {
  const payload =
    "add KUBE-CLUSTER-IP 10.96.0.50,tcp:80\nadd KUBE-NOPE 10.0.0.1\nadd KUBE-CLUSTER-IP 10.96.0.51,tcp:80\n";
  const err = await ipset.apply(opsOf(payload)).catch((e) => e);
  assert.ok(err instanceof KipvsError, String(err));
  assert.equal(err.details.line, 2);
  assert.equal(
    err.message,
    "ipset restore failed at line 2: The set with the given name does not exist\n" +
      "  1 | add KUBE-CLUSTER-IP 10.96.0.50,tcp:80\n> 2 | add KUBE-NOPE 10.0.0.1\n" +
      "  3 | add KUBE-CLUSTER-IP 10.96.0.51,tcp:80",
  );
  const syntax = await ipset.apply(opsOf(
    "add KUBE-CLUSTER-IP 10.96.0.52,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.53,tcp:99999\n",
  ))
    .catch((e) => e);
  assert.ok(syntax instanceof KipvsError);
  assert.equal(syntax.details.line, 2, syntax.message);
  // ipset batches adds to one set: the adds before each failing line were dropped with it.
  await assertKernelMatches(desired);
});

Deno.test("a bad iptables payload is reported with the offending line and changes nothing", async () => {
  const before = await out(prog(4, "save"), "-t", "filter");
  const payload =
    "*filter\n:KUBE-IPVS-OUT-FILTER - [0:0]\n-A KUBE-IPVS-OUT-FILTER -j KUBE-NOPE\nCOMMIT\n";
  const err = await iptables.restore(4, payload).catch((e) => e);
  assert.ok(err instanceof KipvsError, String(err));
  assert.equal(err.details.program, prog(4, "restore"));
  // iptables-nft-restore blames the COMMIT; kipvs shows the rule that jumps to the missing chain.
  assert.equal(err.details.line, 3);
  const reason = BACKEND === "legacy"
    ? "Couldn't load target `KUBE-NOPE':No such file or directory"
    : "Chain 'KUBE-NOPE' does not exist";
  assert.equal(
    err.message,
    `${prog(4, "restore")} failed at line 3: ${reason}\n` +
      "  1 | *filter\n  2 | :KUBE-IPVS-OUT-FILTER - [0:0]\n> 3 | -A KUBE-IPVS-OUT-FILTER -j KUBE-NOPE\n" +
      "  4 | COMMIT",
  );
  const strip = (s: string) => s.replace(/^#.*\n/gm, "");
  assert.equal(strip(await out(prog(4, "save"), "-t", "filter")), strip(before));
});

// The fake iptables answers like iptables-legacy-restore 1.8.9, word for word; iptables-nft-restore
// words its errors otherwise, but must refuse and accept the same payloads.
Deno.test(`the fakes answer these payloads as ipset and ${prog(4, "restore")} do`, async () => {
  const ipsetCases: [string, boolean][] = [
    ["create F1 hash:ip,port family inet hashsize 1024 maxelem 2\nadd F1 10.0.0.1,tcp:80\n", true],
    ["create F1 hash:ip,port family inet hashsize 1024 maxelem 2\n", false],
    ["create F1 hash:ip family inet\n", true],
    ["add F1 10.0.0.1,tcp:80\n", false],
    ["add F1 10.0.0.1,tcp:80\n", true],
    ["del F1 10.0.0.9,tcp:80\n", false],
    ["del F1 10.0.0.9,tcp:80\n", true],
    ["add F-NONE 10.0.0.1\n", true],
    ["add F1 10.0.0.2,tcp:80\nadd F1 10.0.0.3,tcp:80\n", true],
    ["destroy F-NONE\n", true],
    ["destroy F-NONE\n", false],
    ["create F3 hash:ip\nadd F3 1.1.1.1\nadd F3 1.1.1.1\nadd F3 1.1.1.2\n", false],
    ["create F4 hash:ip\nadd F3 5.5.5.5\nadd F4 6.6.6.6\nadd F-NONE 1.1.1.1\n", true],
    ["add F3 7.7.7.7\ndel F3 9.9.9.9\nadd F3 7.7.7.8\n", false],
    ["add F3 8.8.8.8\nfrob F3\n", true],
    ["destroy F1\ndestroy F3\ndestroy F4\n", true],
  ];
  const model = new IpsetModel();
  const entries = (save: string) => save.split("\n").filter((l) => /^add F/.test(l)).sort();
  for (const [payload, exist] of ipsetCases) {
    const real = await run("ipset", exist ? ["restore", "-exist"] : ["restore"], payload);
    const fake = model.restore(payload, { exist });
    assert.deepEqual([fake.code, fake.stderr], [real.code, real.stderr], payload);
    assert.deepEqual(entries(model.saveText()), entries(await out("ipset", "save")), payload);
  }
  const syntax = await run(
    "ipset",
    ["restore"],
    "create F2 hash:ip,port\nadd F2 10.0.0.1,tcp:99999\n",
  );
  const fakeSyntax = model.restore("create F2 hash:ip,port\nadd F2 10.0.0.1,tcp:99999\n");
  assert.equal(fakeSyntax.code, syntax.code);
  assert.match(syntax.stderr, /^ipset v7\.17: Syntax error: /);
  assert.match(fakeSyntax.stderr, /^ipset v7\.17: Syntax error: /);
  await out("ipset", "destroy", "F2");

  const ipt = new IptablesModel();
  ipt.setExists = () => false;
  const iptCases = [
    "*filter\n:KUBE-F - [0:0]\n-A KUBE-F -j ACCEPT\nCOMMIT\n",
    "*filter\n:KUBE-G - [0:0]\n-A KUBE-G -j KUBE-NOPE\nCOMMIT\n",
    "*filter\n:KUBE-G - [0:0]\n-A KUBE-G -m set --match-set F-NONE dst -j ACCEPT\nCOMMIT\n",
    "*filter\n-A KUBE-NONE -j DROP\nCOMMIT\n",
    "*filter\n-D KUBE-F -j DROP\nCOMMIT\n",
    "*filter\n-I KUBE-F 5 -j DROP\nCOMMIT\n",
    "*filter\n-X KUBE-F\nCOMMIT\n",
    "*filter\n-A INPUT -j KUBE-F\nCOMMIT\n",
    "*filter\n:KUBE-F - [0:0]\n-X KUBE-F\nCOMMIT\n",
    "*filter\n-D INPUT -j KUBE-F\n:KUBE-F - [0:0]\n-X KUBE-F\nCOMMIT\n",
  ];
  for (const payload of iptCases) {
    const real = await run(prog(4, "restore"), ["--noflush"], payload);
    const fake = ipt.restore(4, payload);
    if (BACKEND === "legacy") {
      assert.deepEqual([fake.code, fake.stderr], [real.code, real.stderr], payload);
    } else {
      assert.equal(fake.code !== 0, real.code !== 0, `${payload}\n${real.stderr}`);
    }
    const chainF = /^:KUBE-F /m;
    assert.equal(
      chainF.test(ipt.saveText(4)),
      chainF.test(await out(prog(4, "save"))),
      payload,
    );
  }
});

Deno.test("a set of the wrong type that rules still match is unhooked, recreated and rehooked", async () => {
  // Replace KUBE-IPVS-IPS by a hash:net set that KUBE-IPVS-FILTER matches, as a broken node might.
  await run(prog(4, "restore"), ["--noflush"], "*filter\n:KUBE-IPVS-FILTER - [0:0]\nCOMMIT\n");
  await out("ipset", "destroy", "KUBE-IPVS-IPS");
  await out("ipset", "create", "KUBE-IPVS-IPS", "hash:net");
  await out(
    prog(4),
    "-A",
    "KUBE-IPVS-FILTER",
    "-m",
    "set",
    "--match-set",
    "KUBE-IPVS-IPS",
    "dst",
    "-j",
    "REJECT",
  );
  const r = await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  assert.deepEqual(r.ipset.recreated, ["KUBE-IPVS-IPS"]);
  assert.deepEqual(r.unhooked, ["4/filter/KUBE-IPVS-FILTER"]);
  await assertKernelMatches(desired);
});

/** Every set of both families with one entry, so that every rule kipvs renders exists. */
function everySet(): Map<string, SetMembers> {
  const sample: Record<string, [string, string]> = {
    "hash:ip": ["10.96.9.1", "fd00:96::9:1"],
    "hash:ip,port": ["10.96.9.1,tcp:80", "fd00:96::9:1,tcp:80"],
    "hash:ip,port,ip": ["10.244.9.2,tcp:8080,10.244.9.2", "fd00:244::9:2,tcp:8080,fd00:244::9:2"],
    "hash:ip,port,net": ["203.0.113.90,tcp:80,192.0.2.0/24", "2001:db8::90,tcp:80,2001:db8:1::/64"],
    "bitmap:port": ["30090", "30090"],
  };
  const sets = new Map<string, SetMembers>();
  for (const family of [4, 6] as const) {
    for (const spec of familySpecs(family)) {
      const m = member(sample[spec.type]![family === 4 ? 0 : 1], { type: spec.type, family });
      sets.set(spec.name, new Map([[m.key, m]]));
    }
  }
  return sets;
}

// Each shape of rule kipvs writes, under each flag that changes a rule, read back through the
// cell's iptables-save equal to what kipvs rendered, and a second sync writes nothing: a rule
// that the backend prints otherwise would be rewritten on every sync.
Deno.test("every rule shape reads back as rendered and a resync writes nothing, for each flag", async () => {
  const sets = everySet();
  const configs = [
    { ...config },
    { ...config, masqueradeAll: true, masqueradeBit: 0 },
    { ...config, clusterCIDRs: [], masqueradeBit: 31 },
  ];
  for (const cfg of configs) {
    await syncSetsAndRules({
      ipset,
      iptables,
      desired: { ipsets: sets, families: [4, 6] },
      config: cfg,
    });
    await assertKernelMatches(sets, cfg);
    exec.calls = [];
    const again = await syncSetsAndRules({
      ipset,
      iptables,
      desired: { ipsets: sets, families: [4, 6] },
      config: cfg,
    });
    assert.equal(again.writes, 0, `${JSON.stringify(cfg)}: ${JSON.stringify(exec.restores())}`);
  }
  await syncSetsAndRules({
    ipset,
    iptables,
    desired: { ipsets: desired, families: [4, 6] },
    config,
  });
  await assertKernelMatches(desired);
});

Deno.test("cleanup removes every KUBE- chain, jump and set, and nothing else", async () => {
  for (const family of [4, 6] as const) await cleanupIptables(iptables, family);
  const destroyed = await destroyKubeSets(ipset);
  assert.equal(destroyed.length, 34);
  const v4 = await out(prog(4, "save"));
  const v6 = await out(prog(6, "save"));
  assert.doesNotMatch(v4 + v6, /KUBE-/);
  assert.match(v4, /^-A INPUT -s 10\.1\.2\.3\/32 -j ACCEPT$/m);
  assert.match(v4, /^-A POSTROUTING -s 10\.9\.0\.0\/16 -j MASQUERADE$/m);
  assert.deepEqual(await out("ipset", "list", "-n"), "other-set\n");
  exec.calls = [];
  for (const family of [4, 6] as const) {
    assert.equal((await cleanupIptables(iptables, family)).payload, "");
  }
  assert.deepEqual(await destroyKubeSets(ipset), []);
  assert.deepEqual(exec.restores(), []);
});
