/**
 * What a benchmark ran on, for its report: the host's CPU model and cores, its load, the
 * User-Mode Linux kernel, and how many other guests were running at the time (the machine is
 * shared, and their load shows in the figures).
 *
 * @module
 */

/** The machine as a benchmark reports it. */
export interface Machine {
  /** "AMD EPYC" (the first model name of /proc/cpuinfo). */
  cpu: string;
  cores: number;
  /** The 1-minute load average. */
  load: string;
  /** Other User-Mode Linux guests (distinct process groups of `linux.uml` or the 6.12 `linux`). */
  guests: number;
  /** The guest kernel's version (Debian's, from its module folder, until {@link bootedKernel}). */
  uml: string;
}

/** Process names of User-Mode Linux kernels: Debian's and the project's build (scripts/kernel.sh). */
const UML_NAMES = new Set(["linux.uml", "linux"]);

/**
 * The version of the kernel a guest booted: Debian's from its module folder, the project's from
 * its cache folder (`uml-6.12-<Debian source version>-<key>`).
 */
export function bootedKernel(kernel: { name: string; path: string }, debian: string): string {
  if (kernel.name === "6.1") return debian;
  return /\/uml-[\d.]+-([\d.]+)-[^/]*\/[^/]+$/.exec(kernel.path)?.[1] ?? kernel.name;
}

async function text(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

/** Reads the machine's description now. */
export async function machine(): Promise<Machine> {
  const cpuinfo = await text("/proc/cpuinfo");
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const cores = cpuinfo.split("\n").filter((l) => l.startsWith("processor")).length;
  const load = (await text("/proc/loadavg")).split(" ")[0] ?? "?";
  const groups = new Set<string>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    if (!UML_NAMES.has((await text(`/proc/${e.name}/comm`)).trim())) continue;
    // Field 5 of stat is the process group; the comm field may hold spaces, so count from ")".
    const stat = await text(`/proc/${e.name}/stat`);
    const pgrp = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2];
    if (pgrp) groups.add(pgrp);
  }
  let uml = "?";
  try {
    for await (const e of Deno.readDir("/usr/lib/uml/modules")) uml = e.name;
  } catch {
    // No User-Mode Linux installed: the benchmark fails later, with a clearer message.
  }
  return { cpu, cores, load, guests: groups.size, uml };
}
