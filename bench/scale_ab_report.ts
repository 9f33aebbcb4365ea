/**
 * `deno task bench:scale --source api --ab "ROOT[ FLAGS];ROOT[ FLAGS]..." [--runs R]`: the cold
 * starts of variants of kipvs in one boot (bench/scale_ab_guest.sh), compared as ratios to the
 * first variant. ROOT "." is this checkout; FLAGS replace the V8 flags of ROOT's
 * scripts/permissions ("none": no V8 flags).
 *
 * @module
 */

import { KIPVS_ROOT } from "../tests/kernel/harness.ts";
import { duration, median, parseGuest, type SyncedLine } from "./scale_report.ts";

/** The variants of `--ab`, as the guest script takes them ("ROOT" or "ROOT FLAGS"). */
export function abVariants(spec: string): string[] {
  const out = spec.split(";").map((v) => v.trim()).filter(Boolean).map((v) => {
    const [root, ...flags] = v.split(/\s+/);
    const dir = root === "." ? KIPVS_ROOT : Deno.realPathSync(root!);
    return [dir, ...flags].join(" ");
  });
  if (out.length === 0) throw new Error('--ab wants variants: "ROOT[ FLAGS];ROOT[ FLAGS]"');
  return out;
}

/** One cold start of one variant. */
interface AbRun {
  total: number;
  phases: Record<string, number>;
  cpuMs: number;
  faults: number;
  hwmKb: number;
  ops: number;
}

function runsOf(stdout: string): Map<number, AbRun[]> {
  const out = new Map<number, AbRun[]>();
  for (const m of stdout.matchAll(/^@ab (\d+) (\d+) (\d+) (\{.*\})$/gm)) {
    const [v, r, t0] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const sync = JSON.parse(m[4]!) as SyncedLine & { ipvsOps: number };
    const list = new RegExp(`^@ablist ${v} ${r} \\d+ (\\{.*\\})$`, "m").exec(stdout);
    const listed = list ? JSON.parse(list[1]!) as { ts: string; tookMs: number } : undefined;
    const stat = new RegExp(`^abstat_${v}_${r}=(.*)$`, "m").exec(stdout)?.[1] ?? "";
    const f = stat.split(") ")[1]?.split(" ") ?? [];
    const end = Date.parse(sync.ts);
    const phases: Record<string, number> = {
      start: listed ? Date.parse(listed.ts) - listed.tookMs - t0 : NaN,
      list: listed?.tookMs ?? NaN,
      ...sync.phases,
    };
    const run: AbRun = {
      total: end - t0,
      phases,
      cpuMs: (Number(f[11]) + Number(f[12])) * 10,
      faults: Number(f[7]),
      hwmKb: Number(new RegExp(`^abhwm_${v}_${r}=(\\d+)$`, "m").exec(stdout)?.[1] ?? NaN),
      ops: sync.ipvsOps,
    };
    out.set(v, [...out.get(v) ?? [], run]);
  }
  return out;
}

/** Prints each variant's medians and their ratios to the first variant's. */
export function reportAb(o: { stdout: string; variants: string[]; fail: (why: string) => never }) {
  const byVariant = runsOf(o.stdout);
  if (byVariant.size !== o.variants.length) o.fail("a variant has no cold start");
  parseGuest(o.stdout); // the same checks of the output's form as the other reports
  const med = (v: number, f: (r: AbRun) => number) => median((byVariant.get(v) ?? []).map(f));
  const keys = Object.keys(byVariant.get(1)![0]!.phases);
  for (let v = 1; v <= o.variants.length; v++) {
    const ratio = (f: (r: AbRun) => number) =>
      v === 1 ? "" : ` (${(med(v, f) / med(1, f)).toFixed(2)})`;
    const runs = byVariant.get(v)!;
    console.log(`variant ${v}: ${o.variants[v - 1]} (${runs.length} cold starts)`);
    console.log(
      `  cold start ${duration(med(v, (r) => r.total))}${ratio((r) => r.total)}: ` +
        keys.map((k) =>
          `${k} ${duration(med(v, (r) => r.phases[k] ?? NaN))}${ratio((r) => r.phases[k] ?? NaN)}`
        ).join(", "),
    );
    console.log(
      `  cpu ${duration(med(v, (r) => r.cpuMs))}${ratio((r) => r.cpuMs)}, ` +
        `${med(v, (r) => r.faults)} minor faults${ratio((r) => r.faults)}, ` +
        `peak RSS ${(med(v, (r) => r.hwmKb) / 1024).toFixed(0)} MB${ratio((r) => r.hwmKb)}; ` +
        `IPVS operations ${runs.map((r) => r.ops).join(", ")}; ` +
        `totals ${runs.map((r) => duration(r.total)).join(", ")}`,
    );
  }
}
