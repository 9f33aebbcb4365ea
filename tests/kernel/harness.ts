/**
 * Boots a User-Mode Linux kernel with the host's root file system, runs a script inside as root,
 * and returns what it printed. Two kernels (see {@link KernelName}): Debian's `user-mode-linux`
 * (Linux 6.1, the dataplane as modules, no nf_tables for IPv4) and the project's Linux 6.12 built
 * by scripts/kernel.sh (nf_tables, everything built in). The default is 6.12 once it is built.
 *
 * Every boot is bounded twice: a watchdog inside the guest halts it, and the host kills the
 * guest's whole process group (the kernel calls setsid, so its pid is the group id) when the
 * watchdog did not. The work folder holds the init script, the script's output and the console
 * log, and is removed afterwards unless the boot failed and KIPVS_KEEP_GUEST is set.
 *
 * @module
 */

import {
  describeKernel,
  type GuestKernel,
  type KernelName,
  KIPVS_ROOT,
  resolveKernel,
} from "./kernels.ts";

export { type GuestKernel, type KernelName, KIPVS_ROOT };

/**
 * Modules a kube-proxy-style dataplane uses, loaded in every guest of a modular kernel (6.1)
 * unless told otherwise. The 6.12 kernel has them built in.
 */
export const DATAPLANE_MODULES = [
  "ip_vs",
  "ip_vs_rr",
  "ip_vs_wrr",
  "ip_vs_lc",
  "ip_vs_wlc",
  "ip_vs_sh",
  "ip_vs_dh",
  "ip_vs_sed",
  "ip_vs_nq",
  "ip_vs_mh",
  "dummy",
  "veth",
  "bridge",
  "nf_conntrack",
  "nf_nat",
  "ip_tables",
  "iptable_nat",
  "iptable_filter",
  "ip6_tables",
  "ip6table_nat",
  "ip6table_filter",
  "ip_set",
  "ip_set_hash_ip",
  "ip_set_hash_ipport",
  "ip_set_hash_ipportip",
  "ip_set_hash_ipportnet",
  "ip_set_hash_net",
  "ip_set_bitmap_port",
  "xt_set",
  "xt_mark",
  "xt_MASQUERADE",
  "xt_comment",
  "xt_addrtype",
  "xt_conntrack",
  "xt_multiport",
  "xt_physdev",
];

/** Options of {@link runInGuest}. */
export interface GuestOptions {
  /** Bash script run as root inside the guest, with tests/kernel/guest/lib.sh sourced. */
  script: string;
  /** Name for logs and the guest's umid (default "guest"). */
  name?: string;
  /**
   * The kernel to boot: "6.1" (Debian's), "6.12" (the project's, built when needed) or a kernel
   * of one's own. Default: `KIPVS_KERNEL`, else 6.12 when it is built, else 6.1.
   */
  kernel?: KernelName | GuestKernel;
  /** Bound of the whole boot (default 180 s). */
  timeoutMs?: number;
  /** Guest memory in MiB (default 768). */
  memMiB?: number;
  /** Modules loaded before the script on a modular kernel (default {@link DATAPLANE_MODULES}). */
  modules?: readonly string[];
  /** Extra environment for the script. */
  env?: Record<string, string>;
  /** Called with the script's standard output as it grows (for demos). */
  onStdout?: (text: string) => void;
}

/** What a boot left behind. */
export interface GuestResult {
  /** The kernel that was booted. */
  kernel: GuestKernel;
  /** Whether the kernel got as far as running the guest's init. */
  booted: boolean;
  /** The script's exit status; -1 when the guest died or timed out before it finished. */
  code: number;
  stdout: string;
  stderr: string;
  /** Everything the kernel and init printed on the console. */
  console: string;
  timedOut: boolean;
  /** Wall time of the boot, milliseconds. */
  ms: number;
}

let seq = 0;

/**
 * Boots a guest, runs `options.script` inside, and returns its output. Never leaves it running.
 * Throws, naming the kernel, when the kernel cannot be started at all.
 */
export async function runInGuest(options: GuestOptions): Promise<GuestResult> {
  const kernel = await resolveKernel(options.kernel);
  const name = `${options.name ?? "guest"}-${Deno.pid}-${++seq}`.replace(/[^\w-]/g, "_");
  const timeoutMs = options.timeoutMs ?? 180_000;
  const work = await Deno.makeTempDir({ prefix: "kipvs-guest-" });
  const started = performance.now();
  let pid: number | undefined;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed = true;
  try {
    await Deno.writeTextFile(`${work}/script.sh`, options.script);
    await Deno.writeTextFile(
      `${work}/init.sh`,
      initScript({
        work,
        kernel,
        modules: kernel.modular ? options.modules ?? DATAPLANE_MODULES : [],
        env: options.env ?? {},
        watchdogSeconds: Math.ceil(timeoutMs / 1000),
      }),
      { mode: 0o755 },
    );
    const child = await spawnKernel(kernel, { work, umid: name, memMiB: options.memMiB ?? 768 });
    pid = child.pid;
    // Host-side bound, a little after the guest's own watchdog.
    timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs + 10_000);
    const tail = options.onStdout && followFile(`${work}/stdout`, options.onStdout);
    const out = await child.output();
    await tail?.stop();
    const dec = new TextDecoder();
    const consoleLog = dec.decode(out.stdout) + dec.decode(out.stderr);
    const rcText = await readOr(`${work}/rc`, "");
    const code = rcText.trim() === "" ? -1 : Number(rcText.trim());
    if (consoleLog.includes("watchdog: guest timed out")) timedOut = true;
    const result: GuestResult = {
      kernel,
      booted: await readOr(`${work}/booted`, "") !== "",
      code,
      stdout: await readOr(`${work}/stdout`, ""),
      stderr: await readOr(`${work}/stderr`, ""),
      console: consoleLog,
      timedOut,
      ms: Math.round(performance.now() - started),
    };
    failed = code !== 0;
    return result;
  } finally {
    clearTimeout(timer);
    if (pid !== undefined) killGroup(pid);
    if (!(failed && Deno.env.get("KIPVS_KEEP_GUEST"))) {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  }
}

/** Starts the kernel with the host's `/` as its root and `work`'s init.sh as its init. */
async function spawnKernel(
  kernel: GuestKernel,
  o: { work: string; umid: string; memMiB: number },
): Promise<Deno.ChildProcess> {
  const args = [
    `mem=${o.memMiB}M`,
    "root=/dev/root",
    "rootfstype=hostfs",
    "rootflags=/",
    "rw",
    `init=${o.work}/init.sh`,
    "con=null",
    "con0=fd:0,fd:1",
    `uml_dir=${o.work}`,
    `umid=${o.umid}`,
  ];
  // The guest's memory is a file in TMPDIR, written back to disk unless it is on a tmpfs.
  const env = { TMPDIR: await memoryDir() ?? o.work };
  try {
    return new Deno.Command(kernel.path, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env,
    }).spawn();
  } catch (e) {
    throw new Error(`cannot boot kernel ${describeKernel(kernel)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

let shm: Promise<string | undefined> | undefined;

/** /dev/shm when it is a writable tmpfs (the usual case), else undefined. Once per process. */
function memoryDir(): Promise<string | undefined> {
  shm ??= (async () => {
    try {
      const mounts = await Deno.readTextFile("/proc/mounts");
      if (!/^\S+ \/dev\/shm tmpfs rw[ ,]/m.test(mounts)) return undefined;
      await Deno.makeTempFile({ dir: "/dev/shm", prefix: "kipvs-probe-" }).then(Deno.remove);
      return "/dev/shm";
    } catch {
      return undefined;
    }
  })();
  return shm;
}

/** Polls a file and passes what was appended, until stopped (then passes the rest). */
function followFile(path: string, onText: (text: string) => void): { stop(): Promise<void> } {
  let offset = 0;
  let running = true;
  const dec = new TextDecoder();
  const poll = async () => {
    try {
      const data = await Deno.readFile(path);
      if (data.length > offset) onText(dec.decode(data.subarray(offset)));
      offset = Math.max(offset, data.length);
    } catch {
      // Not created yet.
    }
  };
  const loop = (async () => {
    while (running) {
      await poll();
      await new Promise((r) => setTimeout(r, 200));
    }
    await poll();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

interface InitOptions {
  work: string;
  kernel: GuestKernel;
  modules: readonly string[];
  env: Record<string, string>;
  watchdogSeconds: number;
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** PID 1 of the guest: mounts, module loading (modular kernels), the script, then halt. */
function initScript(o: InitOptions): string {
  const env = Object.entries({
    KIPVS_ROOT,
    KIPVS_OUT: o.work,
    KIPVS_GUEST_KERNEL: o.kernel.name,
    // A private Deno cache per guest: guests must not share the host's cache databases.
    DENO_DIR: "/run/kipvs/deno",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    HOME: "/root",
    PATH: "/run/kipvs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ...o.env,
  }).map(([k, v]) => `export ${k}=${shq(v)}`).join("\n");
  return `#!/bin/sh
${env}
mount -t proc proc /proc
mount -t sysfs sys /sys
# The guest's own /run (netns files, xtables lock, scratch); the host's stays untouched.
mount -t tmpfs tmpfs /run
mkdir -p /run/kipvs/bin /run/kipvs/deno
echo "$(uname -r)" >"$KIPVS_OUT/booted"
${o.kernel.modular ? MODPROBE : ""}
(sleep ${o.watchdogSeconds}; echo "watchdog: guest timed out after ${o.watchdogSeconds}s"; halt -f) &
${o.modules.length ? `modprobe -a ${o.modules.join(" ")} || echo "init: modprobe failed" >&2` : ""}
ip link set lo up
hostname kipvs-node
cd "$KIPVS_ROOT"
/bin/bash -c '. "$KIPVS_ROOT/tests/kernel/guest/lib.sh"; . "$KIPVS_OUT/script.sh"' \\
  >"$KIPVS_OUT/stdout" 2>"$KIPVS_OUT/stderr" </dev/null
echo $? >"$KIPVS_OUT/rc"
sync
halt -f
`;
}

// A modular kernel's modules (Debian's, under /usr/lib/uml/modules) for modprobe and the kernel's
// own module autoloading.
const MODPROBE = `mkdir -p /run/kipvs/modroot/lib
ln -s /usr/lib/uml/modules /run/kipvs/modroot/lib/modules
printf '#!/bin/sh\\nexec /usr/sbin/modprobe -d /run/kipvs/modroot "$@"\\n' >/run/kipvs/bin/modprobe
chmod +x /run/kipvs/bin/modprobe
echo /run/kipvs/bin/modprobe >/proc/sys/kernel/modprobe`;

/** Options of {@link runGuestTests}. */
export type GuestTestOptions = Omit<GuestOptions, "script"> & {
  /** Shell run before the tests (e.g. to prepare pods). */
  before?: string;
};

/**
 * Runs Deno test files inside one guest (one boot for a group of related kernel tests). The
 * files are `*.guest.ts` under tests/kernel/guest, so the host's `deno test` never picks them up.
 */
export function runGuestTests(
  files: readonly string[],
  options: GuestTestOptions = {},
): Promise<GuestResult> {
  const script = `${options.before ?? ""}
"$DENO" test --node-modules-dir=manual --cached-only --no-check --allow-all ${
    files.map(shq).join(" ")
  }
`;
  return runInGuest({ ...options, script });
}

/** Splits a script's output into its "=== name" sections (trimmed text after each heading). */
export function outputSections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of stdout.split(/^=== /m).slice(1)) {
    const nl = part.indexOf("\n");
    out.set(part.slice(0, nl).trim(), part.slice(nl + 1).trim());
  }
  return out;
}

/**
 * Throws with the script's output and the console's tail when the guest run failed, naming the
 * kernel (and saying so when it never got as far as the guest's init).
 */
export function assertGuestOk(r: GuestResult, what = "guest script"): void {
  if (r.code === 0) return;
  const tail = (s: string, n: number) => s.trimEnd().split("\n").slice(-n).join("\n");
  const kernel = `kernel ${describeKernel(r.kernel)}`;
  const verdict = !r.booted
    ? `did not run: ${kernel} did not boot (no init)`
    : `${r.timedOut ? "timed out" : `exited ${r.code}`} on ${kernel}`;
  throw new Error(
    `${what} ${verdict} after ${r.ms} ms\n` +
      `--- stdout (tail) ---\n${tail(r.stdout, 80)}\n--- stderr (tail) ---\n${
        tail(r.stderr, 40)
      }\n` +
      `--- kernel console (tail) ---\n${tail(r.console, 30)}`,
  );
}
