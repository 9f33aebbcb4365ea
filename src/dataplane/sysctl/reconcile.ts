/**
 * Comparing the wanted kernel settings with the running kernel, and applying the differences.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Exec } from "../exec.ts";
import type { SysctlIO } from "./io.ts";
import type { SysctlSetting } from "./settings.ts";

/** How a setting compares. */
export type SysctlState = "ok" | "differs" | "missing" | "skipped";

/** One row of `kipvs sysctl --check` / `--apply`. */
export interface SysctlVerdict {
  key: string;
  want: string | undefined;
  /** The value read; undefined when the key does not exist. */
  current: string | undefined;
  state: SysctlState;
  reason: string;
  /** Set by apply: the value before it was changed. */
  changedFrom?: string;
}

function verdict(s: SysctlSetting, current: string | undefined, reason = s.reason): SysctlVerdict {
  let state: SysctlState = "skipped";
  if (s.want !== undefined) {
    state = current === undefined ? "missing" : current === s.want ? "ok" : "differs";
  }
  return { key: s.key, want: s.want, current, state, reason };
}

/** Reads every setting and says how it compares with what is wanted. */
export async function checkSysctls(
  io: SysctlIO,
  settings: readonly SysctlSetting[],
): Promise<SysctlVerdict[]> {
  const values = await io.read(settings.map((s) => s.key));
  return settings.map((s) => verdict(s, values.get(s.key)));
}

/** Loads a kernel module; returns undefined on success, else what went wrong. */
export type ModuleLoader = (module: string) => Promise<string | undefined>;

/** Options of {@link applySysctls}. */
export interface ApplyOptions {
  io: SysctlIO;
  settings: readonly SysctlSetting[];
  /** Loads the module of a setting whose key is missing (`modprobe`). */
  loadModule: ModuleLoader;
}

/**
 * Writes every setting that differs (all in one write), loading a setting's module first when
 * its key is missing, and reads the written values back. Settings already right are not
 * written.
 */
export async function applySysctls(opts: ApplyOptions): Promise<SysctlVerdict[]> {
  const { io, settings } = opts;
  let values = await io.read(settings.map((s) => s.key));
  const missingModules = new Set(
    settings.filter((s) => s.want !== undefined && !values.has(s.key) && s.module)
      .map((s) => s.module as string),
  );
  const moduleErrors = new Map<string, string | undefined>();
  for (const m of missingModules) moduleErrors.set(m, await opts.loadModule(m));
  if (missingModules.size > 0) values = await io.read(settings.map((s) => s.key));

  // Every differing key in one write, then one read to check they took.
  const writes = new Map<string, string>();
  for (const s of settings) {
    const current = values.get(s.key);
    if (s.want !== undefined && current !== undefined && current !== s.want) {
      writes.set(s.key, s.want);
    }
  }
  await io.writeAll(writes);
  const after = writes.size > 0 ? await io.read([...writes.keys()]) : new Map<string, string>();

  const out: SysctlVerdict[] = [];
  for (const s of settings) {
    const current = values.get(s.key);
    if (s.want === undefined || current === s.want) {
      out.push(verdict(s, current));
    } else if (current === undefined) {
      const err = s.module ? moduleErrors.get(s.module) : undefined;
      out.push(verdict(s, current, err ? `${s.reason} (modprobe ${s.module}: ${err})` : s.reason));
    } else {
      const now = after.get(s.key);
      if (now !== s.want) {
        throw new KipvsError(
          "io",
          `sysctl ${s.key} reads ${now ?? "(missing)"} after writing ${s.want}`,
          { details: { key: s.key } },
        );
      }
      out.push({ ...verdict(s, now), changedFrom: current });
    }
  }
  return out;
}

/** A {@link ModuleLoader} that runs `modprobe`. */
export function modprobe(exec: Exec): ModuleLoader {
  return async (module) => {
    const res = await exec.run("modprobe", [module]);
    return res.code === 0
      ? undefined
      : (res.stderr.trim() || `modprobe ${module} exited ${res.code}`);
  };
}
