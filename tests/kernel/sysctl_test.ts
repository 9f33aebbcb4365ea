import assert from "node:assert/strict";
import { assertGuestOk, DATAPLANE_MODULES, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

matrixTest(
  "kipvs sysctl on a fresh guest: --check fails, --apply fixes, --check passes",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "sysctl",
      kernel: cell.kernel,
      env: cellEnv(cell),
      // On 6.1 br_netfilter is left out so that --apply has to load it; 6.12 has it built in.
      modules: DATAPLANE_MODULES,
      timeoutMs: 150_000,
      script: `
show() { echo "=== $1"; shift; "$@"; echo "rc=$?"; }
show check1 kipvs sysctl --check
show apply1 kipvs sysctl --apply -o json
show check2 kipvs sysctl --check
show values sh -c 'for f in vs/conntrack vs/expire_nodest_conn vs/expire_quiescent_template \\
  vs/conn_reuse_mode ip_forward; do echo "$f=$(cat /proc/sys/net/ipv4/$f)"; done;
  echo "bridge=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)"'
show apply2 kipvs sysctl --apply -o json
show apply3 kipvs sysctl --apply --strict-arp --localhost-nodeports --iptables-backend "$KIPVS_BACKEND" -o json
show filter "$IPTABLES"-save -t filter
show check3 kipvs sysctl --check --strict-arp --localhost-nodeports --iptables-backend "$KIPVS_BACKEND"
show apply4 kipvs sysctl --apply --strict-arp --localhost-nodeports --iptables-backend "$KIPVS_BACKEND" -o json
`,
    });
    assertGuestOk(r);
    const s = outputSections(r.stdout);
    const get = (k: string) => s.get(k) ?? assert.fail(`no section ${k}:\n${r.stdout}`);

    assert.match(get("check1"), /net\.ipv4\.vs\.conntrack\s+1\s+0\s+differs/);
    assert.match(
      get("check1"),
      cell.kernel === "6.1"
        ? /net\.bridge\.bridge-nf-call-iptables\s+1\s+\(missing\)\s+missing/
        : /net\.bridge\.bridge-nf-call-iptables\s+1\s+1\s+ok/,
    );
    assert.match(get("check1"), /^rc=1$/m);

    const apply1 = JSON.parse(get("apply1").replace(/rc=\d+\s*$/, ""));
    assert.equal(apply1.ok, true);
    const changed = apply1.settings.filter((x: { changedFrom: unknown }) => x.changedFrom != null)
      .map((x: { key: string }) => x.key);
    assert.deepEqual(changed, [
      "net.ipv4.vs.conntrack",
      "net.ipv4.vs.expire_nodest_conn",
      "net.ipv4.vs.expire_quiescent_template",
      "net.ipv4.ip_forward",
    ], "bridge-nf-call-iptables is 1 as soon as br_netfilter loads");
    assert.match(get("apply1"), /^rc=0$/m);

    assert.match(get("check2"), /all settings are right/);
    assert.match(
      get("check2"),
      new RegExp(
        `net\\.ipv4\\.vs\\.conn_reuse_mode\\s+-\\s+1\\s+skipped\\s+left alone on kernel ${
          cell.kernel.replace(".", "\\.")
        }\\.`,
      ),
    );
    assert.match(get("check2"), /^rc=0$/m);

    assert.equal(
      get("values").trim(),
      [
        "vs/conntrack=1",
        "vs/expire_nodest_conn=1",
        "vs/expire_quiescent_template=1",
        "vs/conn_reuse_mode=1",
        "ip_forward=1",
        "bridge=1",
        "rc=0",
      ].join("\n"),
    );

    const apply2 = JSON.parse(get("apply2").replace(/rc=\d+\s*$/, ""));
    assert.deepEqual(
      apply2.settings.filter((x: { changedFrom: unknown }) => x.changedFrom != null),
      [],
      "a second --apply changes nothing",
    );

    const apply3 = JSON.parse(get("apply3").replace(/rc=\d+\s*$/, ""));
    assert.deepEqual(
      apply3.settings.filter((x: { changedFrom: unknown }) => x.changedFrom != null)
        .map((x: { key: string }) => x.key),
      [
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.all.route_localnet",
        "iptables: KUBE-FIREWALL localnet drop",
      ],
    );
    assert.match(get("filter"), /^-A INPUT -j KUBE-FIREWALL$/m);
    assert.match(get("filter"), /^-A OUTPUT -j KUBE-FIREWALL$/m);
    assert.match(
      get("filter"),
      /^-A KUBE-FIREWALL ! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 .*-j DROP$/m,
    );
    assert.match(get("check3"), /^rc=0$/m);
    // The guard as the backend saved it is recognised: a second --apply writes nothing.
    const apply4 = JSON.parse(get("apply4").replace(/rc=\d+\s*$/, ""));
    assert.deepEqual(
      apply4.settings.filter((x: { changedFrom: unknown }) => x.changedFrom != null),
      [],
      get("apply4"),
    );
  },
);
