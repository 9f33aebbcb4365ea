/**
 * Reading and writing kernel settings, behind an interface with an in-memory fake.
 *
 * The kernel implementation runs procps's `sysctl` instead of reading /proc/sys: Deno refuses
 * every /proc access unless the whole process runs with --allow-all, which kipvs will not ask
 * for. One `sysctl` process reads all keys, one writes every key that differs.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Exec } from "../exec.ts";

/** Reads and writes kernel settings by dotted name. */
export interface SysctlIO {
  /** The current values of `keys`; a key the kernel does not have is absent from the map. */
  read(keys: readonly string[]): Promise<Map<string, string>>;
  /** Sets a value; throws `io` naming the key when the kernel refuses. */
  write(key: string, value: string): Promise<void>;
  /** Sets several values at once; throws `io` naming the keys when the kernel refuses one. */
  writeAll(values: ReadonlyMap<string, string>): Promise<void>;
}

/** {@link SysctlIO} through the `sysctl` program. */
export class SysctlProgram implements SysctlIO {
  #exec: Exec;

  constructor(exec: Exec) {
    this.#exec = exec;
  }

  async read(keys: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    // -e: keys this kernel lacks are skipped silently; they are simply absent from the answer.
    const res = await this.#exec.run("sysctl", ["-e", ...keys]);
    if (res.code === -1) {
      throw new KipvsError("exec", `cannot run sysctl (procps): ${res.stderr.trim()}`);
    }
    for (const line of res.stdout.split("\n")) {
      const eq = line.indexOf(" = ");
      if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 3).trim());
    }
    return out;
  }

  async write(key: string, value: string): Promise<void> {
    await this.writeAll(new Map([[key, value]]));
  }

  /** One `sysctl -w k=v ...` for all of them: a program per key costs ~50 ms in a small VM. */
  async writeAll(values: ReadonlyMap<string, string>): Promise<void> {
    if (values.size === 0) return;
    const pairs = [...values].map(([k, v]) => `${k}=${v}`);
    const res = await this.#exec.run("sysctl", ["-w", ...pairs]);
    if (res.code !== 0) {
      throw new KipvsError("io", `cannot set sysctl ${pairs.join(" ")}: ${res.stderr.trim()}`, {
        details: { keys: [...values.keys()], values: Object.fromEntries(values) },
      });
    }
  }
}

/** In-memory {@link SysctlIO}: keys absent from the map do not exist. */
export class FakeSysctl implements SysctlIO {
  readonly values: Map<string, string>;
  /** Every write, as `key=value`. */
  readonly writes: string[] = [];
  /** Keys that appear (with value "0") when a module is loaded by {@link FakeSysctl.load}. */
  readonly modules: Map<string, string[]>;

  constructor(values: Record<string, string> = {}, modules: Record<string, string[]> = {}) {
    this.values = new Map(Object.entries(values));
    this.modules = new Map(Object.entries(modules));
  }

  read(keys: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const k of keys) {
      const v = this.values.get(k);
      if (v !== undefined) out.set(k, v);
    }
    return Promise.resolve(out);
  }

  write(key: string, value: string): Promise<void> {
    if (!this.values.has(key)) {
      return Promise.reject(new KipvsError("io", `cannot set sysctl ${key}=${value}: no such key`));
    }
    this.values.set(key, value);
    this.writes.push(`${key}=${value}`);
    return Promise.resolve();
  }

  async writeAll(values: ReadonlyMap<string, string>): Promise<void> {
    for (const [k, v] of values) await this.write(k, v);
  }

  /** Makes a module's keys appear, as `modprobe` would. */
  load(module: string): boolean {
    const keys = this.modules.get(module);
    if (!keys) return false;
    for (const k of keys) if (!this.values.has(k)) this.values.set(k, "0");
    return true;
  }
}
