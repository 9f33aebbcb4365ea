// The diagnostic commands against the real kernel, in two guest boots per cell of the matrix:
// `dump`, `dump --diff`, `explain` and `cleanup` on a node programmed by `kipvs run --manifests
// --once` (explain's answer checked against real traffic from the node, a pod and outside
// clients), and `cleanup` of the state kube-proxy's IPVS mode leaves, made by hand under its
// names, found without being told the backend (`auto`). On nf_tables, other tools' nft tables
// must come out of cleanup as they went in.
import assert from "node:assert/strict";
import type { CleanupResult } from "../../src/diag/cleanup.ts";
import type { NodeDiff } from "../../src/diag/diff.ts";
import type { DumpReport } from "../../src/diag/dump.ts";
import type { Explanation } from "../../src/diag/explain.ts";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

/** What `kipvs cleanup -o json` prints. */
interface CleanupJson {
  removed: CleanupResult;
  kept: { virtualServers: { text: string; why: string }[] };
}

function section(s: Map<string, string>, name: string): string {
  const text = s.get(name);
  if (text === undefined) assert.fail(`no section ${name}; have ${[...s.keys()].join(", ")}`);
  return text;
}

/** The "rc=N" line a section ends with, and the JSON or text before it. */
function result(text: string): { rc: number; body: string } {
  const m = /\nrc=(\d+)\n?$/.exec("\n" + text);
  assert.ok(m, `no rc= line in:\n${text}`);
  return { rc: Number(m[1]), body: text.slice(0, text.lastIndexOf("rc=")) };
}

const FLAGS = '--iptables-backend "$KIPVS_BACKEND" --cluster-cidr 10.244.0.0/16';

// Each case: explain's expected outcome, and a probe of the same packet with real traffic.
const CASES = [
  ["node-cluster", "tcp/10.96.0.10:80", "", "balanced", "client tcp 10.96.0.10 80 --count 4"],
  [
    "hairpin",
    "tcp/10.96.0.10:80",
    "10.244.1.2",
    "balanced",
    "client_in pod-a tcp 10.96.0.10 80 --count 4",
  ],
  [
    "lb-allowed",
    "tcp/203.0.113.10:80",
    "192.168.100.10",
    "balanced",
    "client_in ext-a tcp 203.0.113.10 80 --count 4",
  ],
  [
    "lb-other",
    "tcp/203.0.113.10:80",
    "192.168.100.20",
    "dropped",
    "client_in ext-b tcp 203.0.113.10 80 --timeout 1",
  ],
  ["lb-node", "tcp/203.0.113.10:80", "", "dropped", "client tcp 203.0.113.10 80 --timeout 1"],
  [
    "empty-outside",
    "tcp/10.96.0.20:80",
    "192.168.100.20",
    "no-endpoints",
    "client_in ext-b tcp 10.96.0.20 80 --timeout 1",
  ],
  ["empty-node", "tcp/10.96.0.20:80", "", "no-endpoints", "client tcp 10.96.0.20 80 --timeout 1"],
  [
    "other-port",
    "tcp/10.96.0.10:9999",
    "192.168.100.20",
    "rejected",
    "client_in ext-b tcp 10.96.0.10 9999 --timeout 1",
  ],
  [
    "node-port",
    "tcp/192.168.100.1:30080",
    "192.168.100.20",
    "balanced",
    "client_in ext-b tcp 192.168.100.1 30080 --count 4",
  ],
  [
    "dns",
    "udp/10.96.0.53:53",
    "10.244.1.2",
    "balanced",
    "client_in pod-a udp 10.96.0.53 53 --count 2",
  ],
] as const;

// Other tools' nf_tables state (the 6.12 cell): a table of its own and one named like kube-proxy's
// nftables mode, with chains on the same hooks, a set and a rule. cleanup must leave them as they
// are; "nft list table" before and after are compared.
const FOREIGN_NFT = `
nft -f - <<'EON'
table inet other-tool {
  set blocked { type ipv4_addr; elements = { 192.0.2.1 } }
  chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
}
table ip kube-proxy {
  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }
}
EON
foreign_tables() { nft list table inet other-tool; nft list table ip kube-proxy; }`;

const PROGRAMMED = `set -e
M="$KIPVS_ROOT/tests/kernel/guest/diag/cluster.yaml"
FLAGS="${FLAGS}"
[ "$KIPVS_BACKEND" = nft ] && { ${FOREIGN_NFT}
echo "=== foreign-before"; foreign_tables; }
pod_create pod-a 10.244.1.2
pod_create pod-b 10.244.1.3
pod_serve pod-a 8080 5353
pod_serve pod-b 8080 5353
ext_create ext-a 192.168.100.10
ext_create ext-b 192.168.100.20
kipvs run --manifests "$M" --once $FLAGS --log-level warn
set +e
echo "=== dump-json"; kipvs dump --manifests "$M" $FLAGS -o json; echo "rc=$?"
echo "=== dump-ipvsadm"; kipvs dump $FLAGS -o ipvsadm >"$KIPVS_OUT/dump.rules"; echo "rc=$?"
sort "$KIPVS_OUT/dump.rules"
echo "=== ipvsadm"; ipvsadm -Sn | sort
echo "=== diff-synced"; kipvs dump --manifests "$M" $FLAGS --diff; echo "rc=$?"
echo "=== explain"
# shellcheck disable=SC2046
"$DENO" run --node-modules-dir=manual --cached-only $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions") \\
  "$GUEST_DIR/diag_explain.ts" "$(printf '["--manifests","%s","--iptables-backend","%s","--cluster-cidr","10.244.0.0/16"]' "$M" "$KIPVS_BACKEND")" \\
  ${CASES.map(([name, target, from]) => `"${name}|${target}|${from}"`).join(" ")}
echo "=== probes"
${CASES.map(([name, , , , probe]) => `echo "${name} $(${probe} | sort -u | xargs)"`).join("\n")}
echo "=== change"
ipvsadm -d -t 10.96.0.10:80 -r 10.244.1.3:8080
ipset del KUBE-CLUSTER-IP 10.96.0.53,udp:53
echo "=== diff-changed"; kipvs dump --manifests "$M" $FLAGS --diff -o json; echo "rc=$?"
echo "=== resync"; kipvs run --manifests "$M" --once $FLAGS --log-level warn; echo "rc=$?"
echo "=== diff-resynced"; kipvs dump --manifests "$M" $FLAGS --diff; echo "rc=$?"
echo "=== unrelated"
ipvsadm -A -t 10.200.0.1:80 -s rr
ipvsadm -A -f 42 -s rr
ipset create other-set hash:ip
ipset add other-set 10.1.1.1
"$IPTABLES" -N OTHER
"$IPTABLES" -A OTHER -m set --match-set other-set src -j ACCEPT
"$IPTABLES" -A INPUT -j OTHER
echo "=== cleanup"; kipvs cleanup --iptables-backend "$KIPVS_BACKEND" --ipvs-exclude-cidrs 10.200.0.0/16 -o json; echo "rc=$?"
echo "=== after-ipvs"; ipvsadm -Sn
echo "=== after-sets"; ipset list -n
echo "=== after-kube-rules"; ("$IPTABLES"-save; "$IP6TABLES"-save) | grep -- KUBE-
echo "=== after-other-rules"; "$IPTABLES"-save -t filter | grep -- OTHER
echo "=== after-link"; ip link show kube-ipvs0 >/dev/null 2>&1 && echo present || echo absent
echo "=== cleanup-again"; kipvs cleanup --iptables-backend "$KIPVS_BACKEND" --ipvs-exclude-cidrs 10.200.0.0/16; echo "rc=$?"
[ "$KIPVS_BACKEND" = nft ] && { echo "=== foreign-after"; foreign_tables; }
exit 0
`;

matrixTest(
  "dump, --diff, explain and cleanup on a node programmed by kipvs run, explain checked against real traffic",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "diag-run",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: PROGRAMMED,
      timeoutMs: 300_000,
    });
    assertGuestOk(r, "diagnostics script");
    const s = outputSections(r.stdout);

    // dump, against the manifests: names, kinds, real servers and which of them are local.
    const dump = result(section(s, "dump-json"));
    assert.equal(dump.rc, 0, dump.body);
    const report = JSON.parse(dump.body) as DumpReport;
    const outline = report.groups.flatMap((g) =>
      g.virtualServers.map((v) =>
        `${g.name} ${v.key} ${v.kind} ${v.flags.join(",") || "-"} ` +
        v.realServers.map((rs) => `${rs.address}:${rs.port}${rs.local ? "*" : ""}`).join(" ")
      )
    );
    assert.deepEqual(outline, [
      "default/empty:http TCP/10.96.0.20:80 cluster-ip - ",
      "default/web:http TCP/10.96.0.10:80 cluster-ip - 10.244.1.2:8080* 10.244.1.3:8080",
      "default/web:http TCP/192.168.100.1:30080 node-port - 10.244.1.2:8080* 10.244.1.3:8080",
      "kube-system/dns:dns UDP/10.96.0.53:53 cluster-ip persistent 10.244.1.3:5353",
      "shop/lb:http TCP/10.96.0.30:80 cluster-ip - 10.244.1.2:8080* 10.244.1.3:8080",
      "shop/lb:http TCP/203.0.113.10:80 load-balancer - 10.244.1.2:8080* 10.244.1.3:8080",
      "shop/lb:http TCP/192.168.100.1:30081 node-port - 10.244.1.2:8080* 10.244.1.3:8080",
    ]);
    assert.deepEqual(
      report.addresses.map((a) => `${a.address} ${a.services.join(",")}`),
      [
        "10.96.0.10 default/web",
        "10.96.0.20 default/empty",
        "10.96.0.30 shop/lb",
        "10.96.0.53 kube-system/dns",
        "203.0.113.10 shop/lb",
      ],
    );
    const sets = new Map(report.ipsets.map((x) => [x.name, x.entries]));
    assert.deepEqual(
      ["KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER", "KUBE-NODE-PORT-TCP", "KUBE-IPVS-IPS"].map((n) =>
        sets.get(n)
      ),
      [4, 1, 2, 5],
    );
    assert.ok(report.chains.some((c) => c.family === 4 && c.chain === "KUBE-IPVS-FILTER"));
    assert.ok(
      report.sysctls.some((v) => v.key === "net.ipv4.vs.conntrack" && v.state === "ok"),
    );
    // -o ipvsadm prints exactly what ipvsadm -Sn does.
    const rules = section(s, "dump-ipvsadm");
    assert.match(rules, /^rc=0$/m);
    assert.deepEqual(
      rules.replace(/^rc=0\n/m, "").trim().split("\n"),
      section(s, "ipvsadm").trim().split("\n"),
    );

    const synced = result(section(s, "diff-synced"));
    assert.deepEqual(synced, { rc: 0, body: "no changes: the node matches the plan\n" });

    // explain's answers, and what real traffic did.
    const explained = new Map<string, Explanation>();
    for (const line of section(s, "explain").trim().split("\n")) {
      const j = JSON.parse(line);
      assert.equal(j.code, 0, `${j.name}: ${j.stderr}`);
      explained.set(j.name, j.explanation);
    }
    const probes = new Map(
      section(s, "probes").trim().split("\n").map((
        l,
      ) => [l.split(" ")[0]!, l.split(" ").slice(1).join(" ")]),
    );
    for (const [name, , , outcome] of CASES) {
      const e = explained.get(name);
      const got = probes.get(name);
      assert.equal(e?.outcome.kind, outcome, `${name}: ${JSON.stringify(e?.outcome)}`);
      // What the answer means for a client, against what the client saw.
      const expected = outcome === "balanced"
        ? /^pod-[ab]( pod-[ab])?$/
        : outcome === "dropped"
        ? /^ERR timeout$/
        : /^ERR refused$/;
      assert.match(got ?? "", expected, `${name}: explain said ${outcome}, the client saw ${got}`);
    }
    assert.equal(probes.get("dns"), "pod-b", "the one real server of the UDP service");
    const ex = (name: string) => explained.get(name) ?? assert.fail(`no explanation of ${name}`);
    const where = (name: string) => {
      const o = ex(name).outcome;
      return o.kind === "dropped" || o.kind === "rejected" ? `${o.hook} ${o.rule}` : o.kind;
    };
    assert.equal(ex("hairpin").shownFor, "10.244.1.2:8080");
    assert.deepEqual(ex("hairpin").outcome, { kind: "balanced", realServers: 2, masqueraded: 1 });
    assert.match(where("lb-other"), /^filter\/INPUT -A KUBE-SOURCE-RANGES-FIREWALL -j DROP$/);
    assert.match(where("lb-node"), /^filter\/OUTPUT -A KUBE-IPVS-OUT-FILTER /);
    assert.match(where("other-port"), /^filter\/INPUT .*KUBE-IPVS-IPS dst -j REJECT/);
    assert.equal(ex("dns").service?.name, "kube-system/dns:dns");
    assert.equal(ex("dns").ipvs?.persistenceTimeout, 10800);

    // An outside change shows in --diff (exit 1) exactly as the next sync repairs it.
    const changed = result(section(s, "diff-changed"));
    assert.equal(changed.rc, 1);
    const d = JSON.parse(changed.body) as NodeDiff;
    assert.deepEqual(d.ipvs.map((c) => c.text), [
      "add destination 10.244.1.3:8080 to TCP/10.96.0.10:80",
    ]);
    assert.deepEqual(d.ipsets.add, [{ set: "KUBE-CLUSTER-IP", entry: "10.96.0.53,udp:53" }]);
    assert.equal(d.changes, 2);
    assert.match(section(s, "resync"), /^rc=0$/m);
    assert.deepEqual(result(section(s, "diff-resynced")).rc, 0);

    // cleanup: everything kipvs made goes; the unrelated virtual servers and set stay.
    const cleanup = result(section(s, "cleanup"));
    assert.equal(cleanup.rc, 0, cleanup.body);
    const c = JSON.parse(cleanup.body) as CleanupJson;
    assert.equal(c.removed.virtualServers.length, 7);
    assert.equal(c.removed.linkDeleted, true);
    assert.equal(c.removed.sets.length, 34);
    assert.deepEqual(c.removed.errors, []);
    assert.deepEqual(c.kept.virtualServers.map((v) => v.text).sort(), [
      "FWM/42",
      "TCP/10.200.0.1:80",
    ]);
    const ipvs = section(s, "after-ipvs");
    assert.deepEqual(ipvs.trim().split("\n").sort(), [
      "-A -f 42 -s rr",
      "-A -t 10.200.0.1:80 -s rr",
    ]);
    assert.equal(section(s, "after-sets").trim(), "other-set");
    assert.equal(section(s, "after-kube-rules").trim(), "");
    assert.equal(
      section(s, "after-other-rules").trim(),
      ":OTHER - [0:0]\n-A INPUT -j OTHER\n-A OTHER -m set --match-set other-set src -j ACCEPT",
    );
    assert.equal(section(s, "after-link").trim(), "absent");
    if (cell.backend === "nft") {
      const before = section(s, "foreign-before");
      assert.match(before, /table inet other-tool \{[^]*192\.0\.2\.1[^]*table ip kube-proxy \{/);
      assert.equal(section(s, "foreign-after"), before, "other tools' nft tables are untouched");
    }
    const again = result(section(s, "cleanup-again"));
    assert.equal(again.rc, 0);
    assert.match(
      again.body,
      /^kept +virtual server +TCP\/10\.200\.0\.1:80: inside --ipvs-exclude-cidrs$/m,
    );
    assert.match(
      again.body,
      /\nnothing to remove: no kipvs or kube-proxy \(IPVS mode\) state on this node\n$/,
    );
  },
);

const KUBE_PROXY = `set -e
D="$KIPVS_ROOT/tests/kernel/guest/diag"
ip link add kube-ipvs0 type dummy
for a in 10.96.0.1 10.96.0.10 10.200.0.1; do ip addr add $a/32 dev kube-ipvs0; done
ip -6 addr add fd00:96::1/128 dev kube-ipvs0 nodad
ipvsadm -A -t 10.96.0.1:443 -s rr
ipvsadm -a -t 10.96.0.1:443 -r 10.244.1.2:6443 -m
ipvsadm -A -u 10.96.0.10:53 -s rr -p 10800
ipvsadm -A -t [fd00:96::1]:443 -s rr
ipvsadm -A -t 10.200.0.1:80 -s rr
ipvsadm -A -f 42 -s rr
ipset restore <"$D/kube-proxy.ipset"
"$IPTABLES"-restore --noflush <"$D/kube-proxy.rules4"
"$IP6TABLES"-restore --noflush <"$D/kube-proxy.rules6"
set +e
# No --iptables-backend: kipvs must find kube-proxy's chains where they are (auto).
X="--ipvs-exclude-cidrs 10.200.0.0/16"
echo "=== dump"; kipvs dump $X -o json; echo "rc=$?"
echo "=== cleanup-1"; kipvs cleanup $X -o json; echo "rc=$?"
echo "=== foreign-rule"; "$IPTABLES"-save -t filter | grep -- "someone else"; ipset list -n | sort
"$IPTABLES" -D INPUT -m comment --comment "someone else's" -m set --match-set KUBE-IPVS-IPS dst -j ACCEPT
echo "=== cleanup-2"; kipvs cleanup $X; echo "rc=$?"
echo "=== after-ipvs"; ipvsadm -Sn
echo "=== after-sets"; ipset list -n
echo "=== after-kube-rules"; (iptables-legacy-save; ip6tables-legacy-save; iptables-nft-save; ip6tables-nft-save) 2>/dev/null | grep -- KUBE-
echo "=== after-other-rules"; "$IPTABLES"-save -t filter | grep -- OTHER
echo "=== after-link"; ip link show kube-ipvs0 >/dev/null 2>&1 && echo present || echo absent
echo "=== cleanup-3"; kipvs cleanup $X; echo "rc=$?"
`;

matrixTest(
  "cleanup removes the state kube-proxy's IPVS mode leaves (backend detected), never a set a rule still uses",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "diag-kube-proxy",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: KUBE_PROXY,
      timeoutMs: 240_000,
    });
    assertGuestOk(r, "kube-proxy cleanup script");
    const s = outputSections(r.stdout);

    // Without a source, dump names the kinds from kube-proxy's sets; the backend was detected.
    const dump = result(section(s, "dump"));
    assert.equal(dump.rc, 0, dump.body);
    const report = JSON.parse(dump.body) as DumpReport & { backend: string };
    assert.equal(
      report.backend,
      cell.backend,
      "auto finds the backend holding kube-proxy's chains",
    );
    const groups = report.groups.map((g) =>
      `${g.name}: ${g.virtualServers.map((v) => `${v.key} ${v.kind}`).join(", ")}`
    );
    assert.deepEqual(groups, [
      "TCP/10.96.0.1:443: TCP/10.96.0.1:443 cluster-ip",
      "TCP/[fd00:96::1]:443: TCP/[fd00:96::1]:443 cluster-ip",
      "UDP/10.96.0.10:53: UDP/10.96.0.10:53 cluster-ip",
      "(excluded by --ipvs-exclude-cidrs): TCP/10.200.0.1:80 unknown",
      "(fwmark, not kipvs): FWM/42 unknown",
    ]);

    // First cleanup: everything of kube-proxy's but the set a foreign rule still matches.
    const first = result(section(s, "cleanup-1"));
    assert.equal(first.rc, 0, first.body);
    const c = JSON.parse(first.body) as CleanupJson;
    assert.deepEqual(c.removed.virtualServers.sort(), [
      "TCP/10.96.0.1:443",
      "TCP/[fd00:96::1]:443",
      "UDP/10.96.0.10:53",
    ]);
    assert.equal(c.removed.linkDeleted, true, "whole, as kube-proxy deletes it");
    assert.deepEqual(c.removed.addresses.sort(), [
      "10.200.0.1",
      "10.96.0.1",
      "10.96.0.10",
      "fd00:96::1",
    ]);
    assert.deepEqual(c.removed.chains.sort(), [
      "IPv4 filter/KUBE-FORWARD",
      "IPv4 filter/KUBE-IPVS-FILTER",
      "IPv4 filter/KUBE-IPVS-OUT-FILTER",
      "IPv4 filter/KUBE-NODE-PORT",
      "IPv4 filter/KUBE-PROXY-FIREWALL",
      "IPv4 filter/KUBE-SOURCE-RANGES-FIREWALL",
      "IPv4 nat/KUBE-FIREWALL",
      "IPv4 nat/KUBE-LOAD-BALANCER",
      "IPv4 nat/KUBE-MARK-MASQ",
      "IPv4 nat/KUBE-NODE-PORT",
      "IPv4 nat/KUBE-POSTROUTING",
      "IPv4 nat/KUBE-SERVICES",
      "IPv6 filter/KUBE-IPVS-FILTER",
      "IPv6 nat/KUBE-MARK-MASQ",
      "IPv6 nat/KUBE-POSTROUTING",
      "IPv6 nat/KUBE-SERVICES",
    ]);
    assert.equal(c.removed.jumps.length, 9 + 4);
    assert.deepEqual(c.removed.keptSets.map((k) => k.name), ["KUBE-IPVS-IPS"]);
    assert.match(c.removed.keptSets[0]!.usedBy, /^rule in filter: -A INPUT .*someone else/);
    assert.equal(c.removed.sets.length, 8);
    assert.deepEqual(c.removed.errors, []);
    // The foreign rule still has its set.
    const foreign = section(s, "foreign-rule");
    assert.match(foreign, /--match-set KUBE-IPVS-IPS dst -j ACCEPT/);
    assert.deepEqual(foreign.trim().split("\n").slice(1), ["KUBE-IPVS-IPS", "other-set"]);

    // Once the foreign rule is gone, the second cleanup takes the set; the third finds nothing.
    const second = result(section(s, "cleanup-2"));
    assert.equal(second.rc, 0);
    assert.match(second.body, /^removed +ipsets IPv4 +KUBE-IPVS-IPS$/m);
    assert.deepEqual(section(s, "after-ipvs").trim().split("\n").sort(), [
      "-A -f 42 -s rr",
      "-A -t 10.200.0.1:80 -s rr",
    ]);
    assert.equal(section(s, "after-sets").trim(), "other-set");
    assert.equal(section(s, "after-kube-rules").trim(), "");
    assert.equal(
      section(s, "after-other-rules").trim(),
      ":OTHER - [0:0]\n-A INPUT -j OTHER\n-A OTHER -m set --match-set other-set src -j ACCEPT",
    );
    assert.equal(section(s, "after-link").trim(), "absent");
    const third = result(section(s, "cleanup-3"));
    assert.equal(third.rc, 0);
    assert.doesNotMatch(third.body, /^removed/m);
    assert.match(
      third.body,
      /\nnothing to remove: no kipvs or kube-proxy \(IPVS mode\) state on this node\n$/,
    );
  },
);
