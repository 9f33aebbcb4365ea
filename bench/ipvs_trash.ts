/**
 * `deno task bench:ipvs-trash [--services N] [--rounds R] [--per-round K]`: what one real
 * server add costs as deleted real servers pile up in the kernel's destination trash.
 *
 * IPVS keeps every deleted real server in a per-namespace list (the "trash") for 120-180 s, in
 * case it comes back, and every add walks that whole list first (ip_vs_trash_get_dest(),
 * net/netfilter/ipvs/ip_vs_ctl.c; no index). Under a rolling churn every endpoint replaced is
 * one more entry, so the adds of a sync cost in proportion to the deletes of the last minutes.
 * kube-proxy and ipvsadm pay the same; this bench measures it through kipvs's own netlink path.
 *
 * In one guest boot, two namespaces of N virtual servers x 1 real server each get R rounds of K
 * edits (bench/ipvs_trash_guest.ts): the control only adds real servers, the churn replaces them
 * (delete, then add a new address), as a rolling update does. The run stays under the trash's
 * 120 s lifetime, so nothing leaves it. Last line:
 * `ipvs_trash per_round=K trash=<deleted at the end> add_us_first=<a> add_us_last=<b>
 * control_add_us_last=<c> last/first=<b/a> last/control=<b/c>`.
 *
 * @module
 */

import { assertGuestOk, runInGuest } from "../tests/kernel/harness.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer`);
  return v;
}

const GUEST_SCRIPT = `set -e
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
run() { # run NS MODE: the guest side in namespace NS
  # shellcheck disable=SC2086
  ip netns exec "$1" "$DENO" run --node-modules-dir=manual $perms \\
    "$KIPVS_ROOT/bench/ipvs_trash_guest.ts" "$SERVICES" "$ROUNDS" "$PER_ROUND" "$2"
}
for ns in warm control churn; do ip netns add $ns; ip -n $ns link set lo up; done
run warm add >/dev/null # compiles the modules once
run control add | sed 's/^/control /'
run churn replace | sed 's/^/churn /'
`;

interface Round {
  round: number;
  deleted: number;
  addUs: number;
  delUs: number;
}

function parse(stdout: string, which: string): Round[] {
  const re = new RegExp(
    `^${which} round=(\\d+) deleted=(\\d+) add_us=([\\d.]+) del_us=([\\d.]+)$`,
    "gm",
  );
  return [...stdout.matchAll(re)].map((m) => ({
    round: Number(m[1]),
    deleted: Number(m[2]),
    addUs: Number(m[3]),
    delUs: Number(m[4]),
  }));
}

if (import.meta.main) {
  const services = flag("--services", 5000);
  const rounds = flag("--rounds", 20);
  const perRound = flag("--per-round", 2000);
  console.log(
    `bench:ipvs-trash ${services} virtual servers x 1 real server; ${rounds} rounds of ` +
      `${perRound} real servers added (control) or replaced (churn)`,
  );
  const r = await runInGuest({
    name: "bench-ipvs-trash",
    script: GUEST_SCRIPT,
    env: { SERVICES: String(services), ROUNDS: String(rounds), PER_ROUND: String(perRound) },
    memMiB: 1024,
    timeoutMs: 600_000,
  });
  assertGuestOk(r, "bench:ipvs-trash");
  const control = parse(r.stdout, "control");
  const churn = parse(r.stdout, "churn");
  if (control.length !== rounds || churn.length !== rounds) {
    throw new Error(`bench:ipvs-trash: missing rounds\n${r.stdout}\n${r.stderr}`);
  }
  console.log("round  in trash  add/op churn  add/op control  delete/op churn");
  for (let i = 0; i < rounds; i++) {
    const c = churn[i]!;
    console.log(
      `${String(c.round).padStart(5)}  ${String(c.deleted).padStart(8)}  ` +
        `${c.addUs.toFixed(1).padStart(9)} us  ${control[i]!.addUs.toFixed(1).padStart(11)} us  ` +
        `${c.delUs.toFixed(1).padStart(12)} us`,
    );
  }
  const first = churn[0]!.addUs;
  const last = churn.at(-1)!.addUs;
  const ctl = control.at(-1)!.addUs;
  console.log(
    `ipvs_trash per_round=${perRound} trash=${churn.at(-1)!.deleted} add_us_first=${
      first.toFixed(1)
    } add_us_last=${last.toFixed(1)} control_add_us_last=${ctl.toFixed(1)} last/first=${
      (last / first).toFixed(2)
    } last/control=${(last / ctl).toFixed(2)}`,
  );
}
