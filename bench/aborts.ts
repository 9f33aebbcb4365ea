/**
 * `deno task bench:aborts [--runs N] [--guests G] [--shared-cache] [--no-optimize-for-size]
 * [--alternate-flags] [--v8-flags FLAGS] [--deno-args ARGS] [--deno PATH] [--manifests PATH]`:
 * how often the runtime aborts at start.
 *
 * Boots G guests at once (default 1), each running `kipvs run --once` N times in a row (default
 * 200) over a manifest directory that holds examples/demo.yaml and a UTF-16 file (the mix with
 * which aborts were first seen), and counts the runs that ended as kipvs never ends on purpose:
 * a Deno panic or V8 fatal error, a libc++ assertion, a signal (exit status above 128), or an
 * exit without a single log line. With `--shared-cache` every guest uses one Deno cache folder
 * on the host's file system (DENO_DIR; normally each guest has its own on its tmpfs), as a
 * second guest sharing the host's cache would. `--no-optimize-for-size` drops that V8 flag from
 * scripts/permissions; `--v8-flags` replaces it; `--alternate-flags` drops it every other run
 * (V8 then refuses the code cached with other flags and writes it again: every run writes the
 * cache). `--deno-args` adds arguments to `deno run` (e.g. `--no-code-cache`).
 *
 * Prints one line per abnormal run with the first lines of its stderr, the host's load average
 * before and after, and a last line
 * `aborts runs=<n> abnormal=<k> rate=<k/n> ms_median=<t>`. Passes or fails nothing.
 *
 * @module
 */

import { KIPVS_ROOT, runInGuest } from "../tests/kernel/harness.ts";

function opt(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const has = (name: string) => Deno.args.includes(name);

const runs = Number(opt("--runs") ?? 200);
const guests = Number(opt("--guests") ?? 1);
const deno = opt("--deno") ?? `${KIPVS_ROOT}/node_modules/@deno/linux-x64-glibc/deno`;

function permissions(): string[] {
  const lines = Deno.readTextFileSync(`${KIPVS_ROOT}/scripts/permissions`).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const v8 = opt("--v8-flags");
  const rest = lines.filter((l) => !l.startsWith("--v8-flags="));
  if (has("--no-optimize-for-size")) return rest;
  return v8 === undefined ? lines : [...rest, `--v8-flags=${v8}`];
}

const UTF16 = "apiVersion: v1\nkind: Service\nmetadata:\n  name: utf16\nspec:\n  ports:\n" +
  "  - port: 80\n";

async function prepare(dir: string): Promise<string> {
  const m = opt("--manifests");
  if (m !== undefined) return m;
  await Deno.mkdir(`${dir}/m`, { recursive: true });
  await Deno.copyFile(`${KIPVS_ROOT}/examples/demo.yaml`, `${dir}/m/demo.yaml`);
  const bytes = new Uint8Array(2 + UTF16.length * 2);
  bytes.set([0xff, 0xfe]);
  for (let i = 0; i < UTF16.length; i++) bytes[2 + 2 * i] = UTF16.charCodeAt(i);
  await Deno.writeFile(`${dir}/m/utf16.yaml`, bytes);
  return `${dir}/m`;
}

function script(o: { manifests: string; cache?: string }): string {
  const perms = permissions().map((p) => `'${p}'`).join(" ");
  const other = permissions().filter((p) => !p.startsWith("--v8-flags")).map((p) => `'${p}'`);
  const extra = opt("--deno-args") ?? "";
  return `set +e
${o.cache ? `export DENO_DIR='${o.cache}'` : ""}
mkdir -p /run/ab
for i in $(seq ${runs}); do
  t0=$(date +%s%3N)
  perms="${perms.replaceAll('"', '"')}"
  ${has("--alternate-flags") ? `[ $((i % 2)) = 0 ] && perms="${other.join(" ")}"` : ""}
  eval "'${deno}' run --node-modules-dir=manual --cached-only ${extra} $perms" "$KIPVS_ROOT/main.ts" \\
    run --once --skip-sysctl --iptables-backend legacy --manifests '${o.manifests}' \\
    >/run/ab/out 2>/run/ab/err
  rc=$?
  ms=$(( $(date +%s%3N) - t0 ))
  lines=$(grep -c 'Z \\(INFO\\|WARN\\|ERROR\\|DEBUG\\)' /run/ab/err)
  odd=""
  [ "$rc" -gt 128 ] && odd=signal
  grep -qE 'Fatal error|panicked|libc\\+\\+|Hardening|unreachable|Segmentation|Illegal' /run/ab/err && odd=runtime
  [ "$lines" -eq 0 ] && odd="\${odd:-nolog}"
  echo "run $i rc=$rc ms=$ms lines=$lines odd=\${odd:-no}"
  if [ -n "$odd" ]; then
    echo "--- stderr of run $i"
    grep -m1 -A3 -E 'panicked at|Fatal error|libc\+\+|Hardening' /run/ab/err || head -c 1500 /run/ab/err
    echo; echo "---"
  fi
done
`;
}

interface Run {
  rc: number;
  ms: number;
  odd: string;
}

function parse(stdout: string): { runs: Run[]; details: string[] } {
  const out: Run[] = [];
  const details: string[] = [];
  for (const m of stdout.matchAll(/^run \d+ rc=(\d+) ms=(\d+) lines=\d+ odd=(\S+)$/gm)) {
    out.push({ rc: Number(m[1]), ms: Number(m[2]), odd: m[3]! });
  }
  for (const m of stdout.matchAll(/^--- stderr of run (\d+)\n([\s\S]*?)\n---$/gm)) {
    details.push(`run ${m[1]}: ${m[2]!.trim().split("\n").slice(0, 4).join(" | ")}`);
  }
  return { runs: out, details };
}

const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

const work = await Deno.makeTempDir({ prefix: "kipvs-aborts-" });
try {
  const manifests = await prepare(work);
  const cache = has("--shared-cache") ? `${work}/deno-cache` : undefined;
  if (cache) await Deno.mkdir(cache);
  console.log(
    `aborts: ${guests} guest(s) x ${runs} runs, deno ${deno}, cache ${cache ?? "per guest"}, ` +
      `flags ${permissions().filter((p) => p.startsWith("--v8")).join(" ") || "(no V8 flags)"}`,
  );
  const loadBefore = load();
  const samples: string[] = [];
  const sampler = setInterval(() => samples.push(load().split(" ")[0]!), 30_000);
  const results = await Promise.all(
    Array.from({ length: guests }, (_, g) =>
      runInGuest({
        name: `aborts-${g}`,
        script: script({ manifests, cache }),
        timeoutMs: runs * 20_000,
        memMiB: 768,
      })),
  );
  clearInterval(sampler);
  const all: Run[] = [];
  results.forEach((r, g) => {
    const { runs: rs, details } = parse(r.stdout);
    all.push(...rs);
    const odd = rs.filter((x) => x.odd !== "no");
    console.log(`guest ${g}: ${rs.length} runs, ${odd.length} abnormal, exit ${r.code}`);
    for (const d of details) console.log(`  ${d}`);
    if (rs.length < runs) console.log(`  stderr tail: ${r.stderr.slice(-500)}`);
  });
  const codes = new Map<number, number>();
  for (const r of all) codes.set(r.rc, (codes.get(r.rc) ?? 0) + 1);
  const ms = all.map((r) => r.ms).sort((a, b) => a - b);
  const abnormal = all.filter((r) => r.odd !== "no").length;
  console.log(`exit codes: ${[...codes].map(([c, n]) => `${c}x${n}`).join(" ")}`);
  console.log(`load average: before ${loadBefore}, after ${load()}, 1-min samples ${samples}`);
  console.log(
    `aborts runs=${all.length} abnormal=${abnormal} rate=${
      (abnormal / Math.max(1, all.length)).toFixed(4)
    } ms_median=${ms[Math.floor(ms.length / 2)] ?? 0}`,
  );
} finally {
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
