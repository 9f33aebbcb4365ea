import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

/** Splits "=== name" sections of a script's stdout. */
matrixTest(
  "IPVS and kube-ipvs0 through kipvs's netlink library, in one guest boot",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "ipvs",
      kernel: cell.kernel,
      env: cellEnv(cell),
      timeoutMs: 300_000,
      script: `set -e
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
run_perm() { "$DENO" run --node-modules-dir=manual --cached-only $perms "$@"; }
pod_create pod-a 10.244.1.2
pod_create pod-b 10.244.1.3
pod_serve pod-a 8080
pod_serve pod-b 8080

echo "=== permissions"
run_perm tests/kernel/guest/ipvs_permissions.ts

echo "=== cli"
printf '%s\\n' '-A -t 10.96.0.20:80 -s rr' '-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1' \\
  '-A -u [fd00::20]:53 -s wlc -p 30' '-a -u [fd00::20]:53 -r [fd00:244::3]:53 -m -w 2' \\
  >/run/kipvs/rules
run_perm bench/ipvs_cli.ts restore /run/kipvs/rules
run_perm bench/ipvs_cli.ts save | sort >/run/kipvs/kipvs.save
ipvsadm -Sn | sort >/run/kipvs/ipvsadm.save
cmp /run/kipvs/kipvs.save /run/kipvs/ipvsadm.save && echo "save agrees with ipvsadm -Sn"
sort /run/kipvs/rules | cmp - /run/kipvs/ipvsadm.save && echo "restore made the rules file's table"
echo '-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1' >/run/kipvs/dup
run_perm bench/ipvs_cli.ts restore /run/kipvs/dup && echo "dup restore: rc=0" || echo "dup restore: rc=$?"
ipvsadm -C

echo "=== tests"
"$DENO" test --node-modules-dir=manual --cached-only --no-check --allow-all \\
  tests/kernel/guest/ipvs.guest.ts tests/kernel/guest/ipvs_read.guest.ts \\
  tests/kernel/guest/link.guest.ts
`,
    });
    assertGuestOk(r, "ipvs kernel tests");
    const s = outputSections(r.stdout);
    const get = (k: string) => s.get(k) ?? assert.fail(`no section ${k}:\n${r.stdout}`);

    assert.equal(
      get("permissions").trim(),
      [
        "ipvs-apply ok ok 17",
        "ipvs-read rr 1 pipelined",
        "ipvs-info 1.2.1",
        "link-add ok ok",
        "link-list 10.96.7.7 fd00::7",
        "link-delete true",
        "libnl-text Object not found",
      ].join("\n"),
    );
    assert.match(get("cli"), /^save agrees with ipvsadm -Sn$/m);
    assert.match(get("cli"), /^restore made the rules file's table$/m);
    assert.match(get("cli"), /^dup restore: rc=1$/m);
    assert.match(
      r.stderr,
      /add destination 10\.244\.1\.2:8080 to TCP\/10\.96\.0\.20:80: File exists \(EEXIST\)/,
    );
    assert.match(get("tests"), /ok \| 21 passed \| 0 failed/);
  },
);
