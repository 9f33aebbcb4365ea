/**
 * `deno run --allow-read bench/cpuprof_blocks.ts FILE.cpuprofile [--min MS] [--top N]`: where a
 * process held its event loop. Reads a V8 CPU profile (`deno run --cpu-prof`) and prints every
 * stretch of consecutive samples outside "(idle)" longer than MS (default 50 ms): its start
 * (from the profile's start), its length, and the kipvs functions most of its samples were in
 * (inclusive, with the share of the stretch), then the functions with the most self time over
 * the whole profile. While such a stretch runs, the healthz and metrics ports cannot answer.
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A stretch of busy samples: from sample `from` (inclusive) to `to` (exclusive). */
interface Stretch {
  startMs: number;
  ms: number;
  from: number;
  to: number;
}

function frameName(f: CallFrame): string {
  const file = f.url.replace(/^.*\/(src|bench|tests)\//, "$1/");
  return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

/** The busy stretches longer than `minMs`. */
function stretches(p: Profile, idle: Set<number>, minMs: number): Stretch[] {
  const out: Stretch[] = [];
  let t = 0;
  let start = -1;
  let startMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += (p.timeDeltas[i] ?? 0) / 1000;
    const busy = !idle.has(p.samples[i]!);
    if (busy && start < 0) {
      start = i;
      startMs = t;
    } else if (!busy && start >= 0) {
      if (t - startMs >= minMs) out.push({ startMs, ms: t - startMs, from: start, to: i });
      start = -1;
    }
  }
  if (start >= 0 && t - startMs >= minMs) {
    out.push({ startMs, ms: t - startMs, from: start, to: p.samples.length });
  }
  return out;
}

/** The frames each sample's stack holds (kipvs's own, by name), counted over a stretch. */
function inclusive(p: Profile, parent: Map<number, number>, s: Stretch): [string, number][] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  for (let i = s.from; i < s.to; i++) {
    const seen = new Set<string>();
    for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!/\/(src|bench)\//.test(f.url)) continue;
      seen.add(frameName(f));
    }
    for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (!file) throw new Error("usage: cpuprof_blocks.ts FILE.cpuprofile [--min MS] [--top N]");
  const p = JSON.parse(await Deno.readTextFile(file)) as Profile;
  const minMs = flag("--min", 50);
  const top = flag("--top", 8);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const idle = new Set(
    p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const list = stretches(p, idle, minMs);
  const total = p.timeDeltas.reduce((a, b) => a + b, 0) / 1000;
  console.log(`${file}: ${total.toFixed(0)} ms, ${list.length} stretches over ${minMs} ms`);
  for (const s of list.sort((a, b) => b.ms - a.ms).slice(0, top)) {
    console.log(`at ${s.startMs.toFixed(0)} ms: ${s.ms.toFixed(0)} ms busy`);
    const n = s.to - s.from;
    for (const [k, c] of inclusive(p, parent, s).slice(0, top)) {
      console.log(`  ${((100 * c) / n).toFixed(0).padStart(3)}%  ${k}`);
    }
  }
  const self = new Map<string, number>();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (let i = 0; i < p.samples.length; i++) {
    const k = frameName(byId.get(p.samples[i]!)!.callFrame);
    self.set(k, (self.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  console.log("self time:");
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) {
    console.log(`  ${ms.toFixed(0).padStart(7)} ms  ${k}`);
  }
}
