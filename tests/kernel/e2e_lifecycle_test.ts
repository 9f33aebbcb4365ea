// End to end, one guest boot (tests/kernel/guest/e2e_lifecycle.sh): a manifest directory
// (tests/kernel/testdata/e2e/lifecycle) with invalid objects next to good ones, a rerun that must
// not write, virtual servers kipvs did not make (a stale one goes, another tool's inside
// --ipvs-exclude-cidrs stays), and a service whose file is deleted between two runs: its virtual
// servers, kube-ipvs0 addresses and ipset entries go, everything else stays as it was, down to a
// connection held open across the removal. Last, in a network namespace of its own, a sync the
// kernel refuses must fail the run.
import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { cellEnv, iptablesProgram, matrixTest } from "./matrix.ts";
import {
  assertLines,
  kipvsRun,
  minus,
  normalizeAddresses,
  normalizeIpset,
  normalizeIptables,
  normalizeIpvs,
  probes,
  section,
  sections,
  syncedLine,
} from "./e2e_output.ts";

const BAD_FILE = "/run/e2e/manifests/bad.yaml";

/** The invalid objects of bad.yaml, each reported with its file, object, field and value. */
const REPORTED = [
  'Service e2e/bad-ip (file FILE, document 1): spec.clusterIP: "10.96.1.300" not a valid IP',
  "Service e2e/bad-port (file FILE, document 2): spec.ports[0].port: 70000 out of range",
  'Service e2e/bad-protocol (file FILE, document 3): spec.ports[0].protocol: "ICMP" not one of',
  "Service e2e/<unnamed> (file FILE, document 4): metadata.name: required",
  'EndpointSlice e2e/keep-a-bad (file FILE, document 5): endpoints[0].addresses[0]: "10.244.1.999"',
].map((s) => s.replace("FILE", BAD_FILE));

/** What the good objects program (normalised `ipvsadm -Sn`): nothing of bad.yaml. */
const PROGRAMMED = [
  "-A -t 10.96.1.10:80 -s rr",
  "-a -t 10.96.1.10:80 -r 10.244.1.2:8080 -m -w 1",
  "-a -t 10.96.1.10:80 -r 10.244.1.3:8080 -m -w 1",
  "-A -t 10.96.1.20:80 -s rr",
  "-a -t 10.96.1.20:80 -r 10.244.1.2:8080 -m -w 1",
  // Another tool's, inside --ipvs-exclude-cidrs: kept as it is. (The stale 10.250.0.1:80 went.)
  "-A -t 172.30.0.1:80 -s wrr",
  "-A -t 192.168.100.1:30090 -s rr",
  "-a -t 192.168.100.1:30090 -r 10.244.1.2:8080 -m -w 1",
  "-a -t 192.168.100.1:30090 -r 10.244.1.3:8080 -m -w 1",
  "-A -t 192.168.100.1:30091 -s rr",
  "-a -t 192.168.100.1:30091 -r 10.244.1.2:8080 -m -w 1",
  "-A -t 198.51.100.40:80 -s rr",
  "-a -t 198.51.100.40:80 -r 10.244.1.2:8080 -m -w 1",
  "-a -t 198.51.100.40:80 -r 10.244.1.3:8080 -m -w 1",
  "-A -t 198.51.100.41:80 -s rr",
  "-a -t 198.51.100.41:80 -r 10.244.1.2:8080 -m -w 1",
  "-A -t [fd00:100::1]:30091 -s rr",
  "-a -t [fd00:100::1]:30091 -r [fd00:244::2]:8080 -m -w 1",
  "-A -t [fd00:96::1:20]:80 -s rr",
  "-a -t [fd00:96::1:20]:80 -r [fd00:244::2]:8080 -m -w 1",
  "-A -u 10.96.1.11:53 -s rr",
  "-a -u 10.96.1.11:53 -r 10.244.1.3:8080 -m -w 1",
  "-A -u [fd00:96::1:11]:53 -s rr",
  "-a -u [fd00:96::1:11]:53 -r [fd00:244::3]:8080 -m -w 1",
];

/** Everything service e2e/gone held, by dump. */
const GONE = {
  ipvs: [
    "-A -t 10.96.1.20:80 -s rr",
    "-a -t 10.96.1.20:80 -r 10.244.1.2:8080 -m -w 1",
    "-A -t 192.168.100.1:30091 -s rr",
    "-a -t 192.168.100.1:30091 -r 10.244.1.2:8080 -m -w 1",
    "-A -t 198.51.100.41:80 -s rr",
    "-a -t 198.51.100.41:80 -r 10.244.1.2:8080 -m -w 1",
    "-A -t [fd00:100::1]:30091 -s rr",
    "-a -t [fd00:100::1]:30091 -r [fd00:244::2]:8080 -m -w 1",
    "-A -t [fd00:96::1:20]:80 -s rr",
    "-a -t [fd00:96::1:20]:80 -r [fd00:244::2]:8080 -m -w 1",
  ],
  ipset: [
    "add KUBE-6-CLUSTER-IP fd00:96::1:20,tcp:80",
    "add KUBE-6-IPVS-IPS fd00:96::1:20",
    "add KUBE-6-LOOP-BACK fd00:244::2,tcp:8080,fd00:244::2",
    "add KUBE-6-NODE-PORT-TCP 30091",
    "add KUBE-CLUSTER-IP 10.96.1.20,tcp:80",
    "add KUBE-EXTERNAL-IP 198.51.100.41,tcp:80",
    "add KUBE-IPVS-IPS 10.96.1.20",
    "add KUBE-IPVS-IPS 198.51.100.41",
    "add KUBE-NODE-PORT-TCP 30091",
  ],
  addresses: ["10.96.1.20", "198.51.100.41", "fd00:96::1:20"],
  // gone was the only IPv6 node port: KUBE-6-NODE-PORT-TCP empties and its rule goes, as
  // kube-proxy writes a set's rule only while the set has entries.
  ip6tables: [
    '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-6-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
  ],
};

matrixTest(
  "kipvs run --once skips bad objects, writes nothing when rerun, removes a deleted service, fails a refused sync",
  async (t, cell) => {
    const r = await runInGuest({
      name: "e2e-lifecycle",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: '. "$GUEST_DIR/e2e_lifecycle.sh"',
      timeoutMs: 150_000,
    });
    assertGuestOk(r, "e2e lifecycle script");
    const all = sections(r.stdout);
    const dump = (name: string) => ({
      ipvs: normalizeIpvs(section(all, `${name} ipvs`)),
      ipset: normalizeIpset(section(all, `${name} ipset`)),
      iptables: normalizeIptables(section(all, `${name} iptables`)),
      ip6tables: normalizeIptables(section(all, `${name} ip6tables`)),
      addresses: normalizeAddresses(section(all, `${name} addresses`)),
    });
    const before = dump("before"), after = dump("after");

    await t.step("each bad object is reported with its file, object, field and value", () => {
      const run = kipvsRun(all, "first");
      const warned = run.logs.filter((l) => l.level === "warn").map((l) => String(l.msg));
      assert.equal(warned.length, REPORTED.length, run.text);
      for (const want of REPORTED) {
        assert.ok(warned.some((w) => w.includes(want)), `no warning with ${want}:\n${run.text}`);
      }
      const ignored = run.logs.find((l) =>
        l.level === "debug" && /ConfigMap e2e\/settings/.test(`${l.msg}`)
      );
      assert.ok(ignored, `the ConfigMap is ignored with a debug line:\n${run.text}`);
    });

    await t.step(
      "the good objects are programmed and bad objects alone do not fail the run",
      () => {
        const run = kipvsRun(all, "first");
        assert.equal(run.rc, 0, run.text);
        assert.equal(syncedLine(run).ipvsFailed, 0, run.text);
        assertLines(before.ipvs, PROGRAMMED, "ipvsadm -Sn after the first run");
      },
    );

    await t.step(
      "a stale virtual server is removed, another tool's in --ipvs-exclude-cidrs kept",
      () => {
        assert.ok(!before.ipvs.some((l) => l.includes("10.250.0.1:80")), before.ipvs.join("\n"));
        assert.ok(after.ipvs.includes("-A -t 172.30.0.1:80 -s wrr"), after.ipvs.join("\n"));
      },
    );

    await t.step("a rerun with the same manifests, bad objects included, makes zero writes", () => {
      const run = kipvsRun(all, "rerun");
      assert.equal(run.rc, 0, run.text);
      assert.equal(syncedLine(run).writes, 0, run.text);
    });

    await t.step("traffic reaches the service before its file is deleted", () => {
      const p = probes(section(all, "traffic before"));
      for (const name of ["gone", "gone6", "gone-nodeport", "gone-external"]) {
        assert.deepEqual(p.get(name), ["pod-a"], `${name}: ${p.get(name)}`);
      }
    });

    await t.step(
      "a deleted service's virtual servers, addresses and ipset entries are gone",
      () => {
        assertLines(minus(before.ipvs, after.ipvs), GONE.ipvs, "virtual servers removed");
        assertLines(minus(before.ipset, after.ipset), GONE.ipset, "ipset entries removed");
        assertLines(minus(before.addresses, after.addresses), GONE.addresses, "addresses removed");
        const run = kipvsRun(all, "removed");
        assert.equal(run.rc, 0, run.text);
        const s = syncedLine(run);
        assert.equal(s.addressesRemoved, GONE.addresses.length, run.text);
        assert.equal(s.ipvsOps, 5, `one delete per virtual server:\n${run.text}`);
      },
    );

    await t.step("the other services are untouched by the removal", () => {
      assertLines(minus(after.ipvs, before.ipvs), [], "virtual servers added");
      assertLines(minus(after.ipset, before.ipset), [], "ipset entries added");
      assertLines(minus(after.addresses, before.addresses), [], "addresses added");
      assertLines(after.iptables, before.iptables, iptablesProgram(cell, 4, "save"));
      assertLines(
        minus(before.ip6tables, after.ip6tables),
        GONE.ip6tables,
        "ip6tables rules removed",
      );
      assertLines(minus(after.ip6tables, before.ip6tables), [], "ip6tables rules added");
      const p = probes(section(all, "traffic after"));
      assert.deepEqual(p.get("keep-a")?.sort(), ["pod-a", "pod-b"], `keep-a: ${p.get("keep-a")}`);
      const ext = p.get("keep-a-external")?.sort();
      assert.deepEqual(ext, ["pod-a", "pod-b"], `keep-a-external: ${ext}`);
      assert.deepEqual(p.get("keep-b6"), ["pod-b", "pod-b"], `keep-b6: ${p.get("keep-b6")}`);
    });

    await t.step("an open connection to another service survives the removal", () => {
      const held = section(all, "held").trim().split("\n");
      assert.match(held[0] ?? "", /^pod-[ab]$/, held.join("\n"));
      assert.match(held.at(-1) ?? "", /^held \d+$/, held.join("\n"));
      assert.ok(Number(held.at(-1)!.split(" ")[1]) >= 10, held.join("\n"));
    });

    await t.step("traffic to the deleted service fails", () => {
      const p = probes(section(all, "traffic after"));
      for (const name of ["gone", "gone6", "gone-nodeport", "gone-external"]) {
        const got = p.get(name) ?? [];
        assert.ok(got.length === 1 && got[0]!.startsWith("ERR "), `${name}: ${got}`);
      }
    });

    await t.step("a sync the kernel refuses exits non-zero and shows the refused line", () => {
      const run = kipvsRun(all, "refused");
      assert.equal(run.rc, 1, run.text);
      assert.ok(!run.logs.some((l) => l.msg === "synced"), run.text);
      const failed = run.logs.find((l) => l.level === "error" && l.msg === "sync failed");
      const message = String((failed?.err as { message?: unknown } | undefined)?.message ?? "");
      assert.match(message, /> *\d+ \| destroy KUBE-CLUSTER-IP/, run.text);
      assert.match(message, /in use by a kernel component/, run.text);
    });
  },
);
