/**
 * `deno task bench:ipvs [--services N] [--dests M] [--runs R] [--against DIR]`: in one guest boot, load N virtual servers
 * x M real servers into a fresh network namespace with kipvs (bench/ipvs_cli.ts, under the
 * permissions of scripts/permissions, from the table as kipvs's JSON) and, separately, into
 * another with `ipvsadm -R` from the same table as an ipvsadm rules file, R times each (alternating, a new namespace every time); then read the whole
 * table back with both (`ipvs_cli.ts save` and `ipvsadm -Sn`, alternating, R times each; also
 * `ipvs_cli.ts save --counters`, the same rules from a read that decodes counters too).
 * Medians are taken: the machine is shared and noisy. The reads must agree line for line. Every command is timed whole,
 * Deno's start included (the load's apply alone is also printed). With `--against DIR` (another
 * checkout of kipvs, e.g. main's, with its node_modules), its bench/ipvs_cli.ts loads and reads
 * the same table in the same boot, alternating with this one, to compare a change with what it
 * changes. The last line is
 * `ipvs_load_ratio kipvs/ipvsadm=<x> read_ratio kipvs/ipvsadm=<y>`.
 *
 * @module
 */

import { formatRules } from "../src/dataplane/ipvs/rules.ts";
import { benchTable } from "./ipvs_table.ts";
import { assertGuestOk, runInGuest } from "../tests/kernel/harness.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer`);
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)] as number;
}

const GUEST_SCRIPT = `set -e
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
# cli NS ARGS...: ipvs_cli.ts inside namespace NS, with exactly the permissions of kipvs.
cli() {
  ns=$1
  shift
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$DENO" run --node-modules-dir=manual --cached-only $perms \
    "$KIPVS_ROOT/bench/ipvs_cli.ts" "$@"
}
# against NS ARGS...: the other checkout's ipvs_cli.ts (--against), with its permissions.
against() {
  ns=$1
  shift
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$DENO" run --node-modules-dir=manual --cached-only \
    $(grep -v '^#' "$AGAINST/scripts/permissions") "$AGAINST/bench/ipvs_cli.ts" "$@"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# applied KEY FILE: the "N ms in apply" a restore wrote to FILE, as KEY=N.
applied() { sed -n 's/.* \\([0-9]*\\)\\.[0-9]* ms in apply$/'"$1"'=\\1/p' "$2"; }
ip netns add warm
ip -n warm link set lo up
# Deno's cache in the guest starts empty: a warm-up run compiles the modules, as an install would.
cli warm save >/dev/null
if [ -n "$AGAINST" ]; then against warm save >/dev/null; fi
t=$(ms); cli warm usage >/dev/null 2>&1 || true; echo "deno_start_ms=$(( $(ms) - t ))"
# Each load into a namespace of its own, alternating, RUNS times each; the host takes medians.
for r in $(seq "$RUNS"); do
  for ns in k$r a$r o$r; do ip netns add $ns; ip -n $ns link set lo up; done
  t=$(ms); cli k$r restore "$TABLE" 2>"$KIPVS_OUT/restore.err"
  echo "kipvs_load_ms=$(( $(ms) - t ))"
  applied kipvs_apply_ms "$KIPVS_OUT/restore.err"
  # With --against, ipvsadm loads once (for the check): at 10,000 services it takes minutes.
  if [ -z "$AGAINST" ] || [ "$r" = 1 ]; then
    t=$(ms); ip netns exec a$r ipvsadm -R <"$RULES"; echo "ipvsadm_load_ms=$(( $(ms) - t ))"
  fi
  if [ -n "$AGAINST" ]; then
    t=$(ms); against o$r restore "$TABLE" 2>"$KIPVS_OUT/restore.err"
    echo "against_load_ms=$(( $(ms) - t ))"
    applied against_apply_ms "$KIPVS_OUT/restore.err"
  fi
done
# Reads change nothing: alternate them on one table, RUNS times each. "save --counters" prints
# the same rules from a read that decodes the traffic counters too (what readAll() does by
# default), to show what they cost.
for _ in $(seq "$RUNS"); do
  t=$(ms); cli k1 save >"$KIPVS_OUT/kipvs.save"; echo "kipvs_read_ms=$(( $(ms) - t ))"
  t=$(ms); ip netns exec k1 ipvsadm -Sn >"$KIPVS_OUT/ipvsadm.save"
  echo "ipvsadm_read_ms=$(( $(ms) - t ))"
  t=$(ms); cli k1 save --counters >"$KIPVS_OUT/kipvs-counters.save"
  echo "kipvs_read_counters_ms=$(( $(ms) - t ))"
  if [ -n "$AGAINST" ]; then
    t=$(ms); against k1 save >"$KIPVS_OUT/against.save"; echo "against_read_ms=$(( $(ms) - t ))"
  fi
done
if [ -n "$AGAINST" ]; then
  cmp -s "$KIPVS_OUT/kipvs.save" "$KIPVS_OUT/against.save" && echo "against_agrees=1" || echo "against_agrees=0"
fi
cmp -s "$KIPVS_OUT/kipvs.save" "$KIPVS_OUT/kipvs-counters.save" && echo "counters_agree=1" || echo "counters_agree=0"
ip netns exec a1 ipvsadm -Sn >"$KIPVS_OUT/ipvsadm-loaded.save"
echo "kipvs_lines=$(wc -l <"$KIPVS_OUT/kipvs.save")"
for f in kipvs ipvsadm ipvsadm-loaded; do sort "$KIPVS_OUT/$f.save" >"$KIPVS_OUT/$f.sorted"; done
cmp -s "$KIPVS_OUT/kipvs.sorted" "$KIPVS_OUT/ipvsadm.sorted" && echo "reads_agree=1" || echo "reads_agree=0"
cmp -s "$KIPVS_OUT/kipvs.sorted" "$KIPVS_OUT/ipvsadm-loaded.sorted" && echo "loads_agree=1" || echo "loads_agree=0"
`;

if (import.meta.main) {
  const services = flag("--services", 1000);
  const dests = flag("--dests", 10);
  const runs = flag("--runs", 3);
  const ai = Deno.args.indexOf("--against");
  const against = ai >= 0 ? await Deno.realPath(Deno.args[ai + 1] ?? ".") : "";
  const ops = services * (dests + 1);
  const rules = await Deno.makeTempFile({ prefix: "kipvs-bench-", suffix: ".rules" });
  const json = await Deno.makeTempFile({ prefix: "kipvs-bench-", suffix: ".json" });
  try {
    // One table, two spellings: ipvsadm's rules for ipvsadm -R, kipvs's JSON for kipvs.
    const table = benchTable(services, dests);
    await Deno.writeTextFile(rules, formatRules(table));
    await Deno.writeTextFile(json, JSON.stringify(table));
    console.log(`bench:ipvs ${services} services x ${dests} real servers = ${ops} operations`);
    const r = await runInGuest({
      name: "bench-ipvs",
      script: GUEST_SCRIPT,
      env: { RULES: rules, TABLE: json, RUNS: String(runs), AGAINST: against },
      memMiB: 1024,
      timeoutMs: 180_000 + ops * (against ? 5 : 3) * runs,
    });
    assertGuestOk(r, "bench:ipvs");
    const v = new Map<string, number[]>();
    for (const m of r.stdout.matchAll(/^(\w+)=(\d+)$/gm)) {
      v.set(m[1] as string, [...(v.get(m[1] as string) ?? []), Number(m[2])]);
    }
    const get = (k: string) => median(v.get(k) ?? []);
    const agree = ["reads_agree", "loads_agree", "counters_agree"].every((k) => get(k) === 1) &&
      (!against || get("against_agrees") === 1);
    if (get("kipvs_lines") !== ops || !agree) {
      throw new Error(`tables disagree or are incomplete:\n${r.stdout}\n${r.stderr}`);
    }
    const s = (k: string) => `${(get(k) / 1000).toFixed(2)} s`;
    const all = (k: string) => (v.get(k) ?? []).map((x) => (x / 1000).toFixed(2)).join(" ");
    console.log(
      `apply kipvs   ${s("kipvs_apply_ms")}  (the restore's apply() alone, median of ${
        all("kipvs_apply_ms")
      })`,
    );
    console.log(`deno start    ${s("deno_start_ms")}  (ipvs_cli.ts with no command: start alone)`);
    console.log(
      `load  kipvs   ${s("kipvs_load_ms")}  (ipvs_cli.ts restore of the JSON table, median of ${
        all("kipvs_load_ms")
      })`,
    );
    console.log(
      `load  ipvsadm ${s("ipvsadm_load_ms")}  (ipvsadm -R, median of ${all("ipvsadm_load_ms")})`,
    );
    console.log(
      `read  kipvs   ${s("kipvs_read_ms")}  (ipvs_cli.ts save, median of ${all("kipvs_read_ms")})`,
    );
    console.log(
      `read  ipvsadm ${s("ipvsadm_read_ms")}  (ipvsadm -Sn, median of ${all("ipvsadm_read_ms")})`,
    );
    const counters = all("kipvs_read_counters_ms");
    console.log(
      `read  kipvs   ${s("kipvs_read_counters_ms")}  (save --counters, median of ${counters})`,
    );
    console.log(`both reads print the same ${ops} rules; both loads made the same table`);
    if (against) reportAgainst(against, get, all);
    const load = get("kipvs_load_ms") / get("ipvsadm_load_ms");
    const read = get("kipvs_read_ms") / get("ipvsadm_read_ms");
    const withCounters = get("kipvs_read_counters_ms") / get("ipvsadm_read_ms");
    console.log(`read_ratio_with_counters kipvs/ipvsadm=${withCounters.toFixed(3)}`);
    console.log(
      `ipvs_load_ratio kipvs/ipvsadm=${load.toFixed(3)} read_ratio kipvs/ipvsadm=${
        read.toFixed(3)
      }`,
    );
  } finally {
    await Deno.remove(rules).catch(() => {});
    await Deno.remove(json).catch(() => {});
  }
}

/** The figures of `--against DIR`, and this checkout's against it. */
function reportAgainst(
  dir: string,
  get: (k: string) => number,
  all: (k: string) => string,
): void {
  const s = (k: string) => `${(get(k) / 1000).toFixed(2)} s`;
  console.log(`against ${dir} (same boot, alternating):`);
  console.log(`  load  ${s("against_load_ms")} (median of ${all("against_load_ms")})`);
  console.log(`  apply ${s("against_apply_ms")} (median of ${all("against_apply_ms")})`);
  console.log(`  read  ${s("against_read_ms")} (median of ${all("against_read_ms")})`);
  const ratio = (a: string, b: string) => (get(a) / get(b)).toFixed(3);
  console.log(
    `  this/against: load=${ratio("kipvs_load_ms", "against_load_ms")} ` +
      `apply=${ratio("kipvs_apply_ms", "against_apply_ms")} ` +
      `read=${ratio("kipvs_read_ms", "against_read_ms")}`,
  );
}
