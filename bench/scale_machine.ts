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
  /** Other User-Mode Linux guests (distinct process groups of `linux.uml`). */
  guests: number;
  /** The guest kernel's version, from its module folder. */
  uml: string;
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
    if ((await text(`/proc/${e.name}/comm`)).trim() !== "linux.uml") continue;
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
