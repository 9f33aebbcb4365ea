/**
 * The kernels the test harness boots, and where their binaries are:
 *
 * - `6.1`: Debian's `user-mode-linux` package (`linux.uml`), with IPVS, ipset and xtables as
 *   modules loaded by the guest's init, and no nf_tables for IPv4 (iptables-legacy only).
 * - `6.12`: the project's kernel, built from Debian's `linux-source-6.12` with the options of
 *   scripts/kernel/uml-6.12.config by scripts/kernel.sh (everything built in, nf_tables), cached
 *   outside the checkout once per machine.
 *
 * `KIPVS_KERNEL=6.1` (or `6.12`) changes the default of tests that do not name a kernel.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The checkout, as seen by host and guest alike (the guest's root is the host's `/`). */
export const KIPVS_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** The kernels the harness knows by name. */
export type KernelName = "6.1" | "6.12";

/** A kernel to boot. */
export interface GuestKernel {
  name: KernelName;
  /** The User-Mode Linux binary. */
  path: string;
  /** Whether the dataplane comes as modules that the guest's init must load. */
  modular: boolean;
}

/** Debian's User-Mode Linux 6.1. */
export const DEBIAN_KERNEL: GuestKernel = {
  name: "6.1",
  path: "/usr/bin/linux.uml",
  modular: true,
};

const KERNEL_SCRIPT = `${KIPVS_ROOT}/scripts/kernel.sh`;

let built: Promise<string> | undefined;

/**
 * The path of the project's 6.12 kernel, built first when it is not cached (about 11 minutes on
 * two cores; scripts/kernel.sh prints its progress on stderr, and callers in other processes wait
 * on its lock for the same build). Once per process.
 */
export function projectKernelPath(): Promise<string> {
  built ??= (async () => {
    const out = await new Deno.Command(KERNEL_SCRIPT, { stdout: "piped", stderr: "inherit" })
      .output();
    const path = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    if (!out.success || !path.startsWith("/")) {
      throw new Error(
        `kernel 6.12: ${KERNEL_SCRIPT} exited ${out.code} without a kernel (make kernel shows why)`,
      );
    }
    return path;
  })();
  return built;
}

/** The project's 6.12 kernel if it is already built (never builds). */
export async function builtProjectKernelPath(): Promise<string | undefined> {
  const out = await new Deno.Command(KERNEL_SCRIPT, { args: ["--path"], stdout: "piped" })
    .output();
  const path = new TextDecoder().decode(out.stdout).trim();
  return out.success && path.startsWith("/") ? path : undefined;
}

/** Whether a string names a kernel. */
export function isKernelName(s: string): s is KernelName {
  return s === "6.1" || s === "6.12";
}

/**
 * The kernel to boot: the one named (6.12 is built when needed), or by default `KIPVS_KERNEL`,
 * else 6.12 when it is built, else 6.1.
 */
export async function resolveKernel(kernel?: KernelName | GuestKernel): Promise<GuestKernel> {
  if (typeof kernel === "object") return kernel;
  let name = kernel;
  if (name === undefined) {
    const env = Deno.env.get("KIPVS_KERNEL");
    if (env !== undefined && env !== "") {
      if (!isKernelName(env)) throw new Error(`KIPVS_KERNEL="${env}": want 6.1 or 6.12`);
      name = env;
    } else {
      const path = await builtProjectKernelPath();
      return path ? { name: "6.12", path, modular: false } : DEBIAN_KERNEL;
    }
  }
  if (name === "6.1") return DEBIAN_KERNEL;
  return { name: "6.12", path: await projectKernelPath(), modular: false };
}

/** "6.12 (/var/cache/kipvs/.../linux)": how errors name a kernel. */
export function describeKernel(k: GuestKernel): string {
  return `${k.name} (${k.path})`;
}
