/**
 * Processes of the cluster test in the guest: the test API server and kipvs as real processes
 * (output kept and logged), kipvs confined as a container's securityContext would confine it, and
 * the rights a process really holds.
 *
 * @module
 */

import { load } from "js-yaml";
import { delay } from "./_cluster.ts";

const ROOT = Deno.env.get("KIPVS_ROOT") ?? new URL("../../..", import.meta.url).pathname;

/** A child process whose output lines are kept (and copied to a log file). */
export class Proc {
  readonly name: string;
  readonly lines: string[] = [];
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;
  #pumps: Promise<void>[];

  constructor(name: string, program: string, args: string[], log: string) {
    this.name = name;
    this.#child = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const file = Deno.openSync(log, { create: true, append: true });
    const enc = new TextEncoder();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const l of parts) {
          this.lines.push(l);
          file.writeSync(enc.encode(l + "\n"));
        }
      }
      if (rest) this.lines.push(rest);
    };
    this.#pumps = [pump(this.#child.stdout), pump(this.#child.stderr)];
    this.#status = this.#child.status.then(async (s) => {
      await Promise.all(this.#pumps);
      file.close();
      return s;
    });
  }

  /** The process's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves with the exit status. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** Waits for a line matching `re` (from line `from` on) and returns it. */
  async waitLine(re: RegExp, o: { timeoutMs: number; from?: number }): Promise<string> {
    const until = performance.now() + o.timeoutMs;
    let exited = false;
    this.#status.then(() => (exited = true));
    for (;;) {
      const hit = this.lines.slice(o.from ?? 0).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (exited || performance.now() > until) {
        throw new Error(
          `${this.name}: no line matching ${re} (${exited ? "it exited" : "timed out"}); ` +
            `last lines:\n${this.tail(20)}`,
        );
      }
      await delay(20);
    }
  }

  /** The last `n` lines. */
  tail(n: number): string {
    return this.lines.slice(-n).join("\n");
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: Deno.Signal): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    return await this.#status;
  }
}

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** Folder of the kubeconfig, the PKI and the state file (kept across restarts). */
  dir: string;
  /** Fixed port, so that a restarted server is where the first one was. */
  port: number;
  /** JSON file of objects that seed a server without saved state. */
  objects?: string;
  /** A bearer token and its user ("TOKEN=USER"). */
  token?: string;
  /** RBAC documents enforced on the users they name (deploy/rbac.yaml). */
  rbac?: string;
}

/** Starts tests/support/apiserver_main.ts over TLS with client certificates; waits for "ready". */
export async function startApiServer(o: ApiServerOptions): Promise<Proc> {
  const p = new Proc("apiserver", Deno.execPath(), [
    "run",
    "--node-modules-dir=manual",
    "--cached-only",
    "--allow-all",
    `${ROOT}/tests/support/apiserver_main.ts`,
    "--kubeconfig",
    `${o.dir}/kubeconfig`,
    "--tls",
    "--pki-dir",
    `${o.dir}/pki`,
    "--state",
    `${o.dir}/state.json`,
    "--listen",
    `127.0.0.1:${o.port}`,
    ...(o.objects ? ["--objects", o.objects] : []),
    ...(o.token ? ["--token", o.token] : []),
    ...(o.rbac ? ["--rbac", o.rbac] : []),
  ], `${o.dir}/apiserver.log`); // deno-fmt-ignore
  await p.waitLine(/^ready https:/, { timeoutMs: 60_000 });
  return p;
}

/**
 * What a container's securityContext allows, applied to a process in the guest: the capability
 * bounding set (uid 0 then holds exactly these), no_new_privs, and a read-only root file system
 * and /proc/sys in a mount namespace of its own (the guest's /run, which stands for the pod's
 * mounts such as /run/xtables.lock, stays writable).
 */
export interface Confinement {
  /** Capability names as Kubernetes spells them ("NET_ADMIN"). */
  capabilities: string[];
  noNewPrivs: boolean;
  readOnlyRoot: boolean;
}

/** Starts `kipvs ARGS...` from source with the exact permissions of the compiled binary. */
export async function startKipvs(
  args: string[],
  o: { log: string; confine?: Confinement },
): Promise<Proc> {
  const perms = (await Deno.readTextFile(`${ROOT}/scripts/permissions`)).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const cmd = [
    Deno.execPath(),
    "run",
    "--node-modules-dir=manual",
    "--cached-only",
    ...perms,
    `${ROOT}/main.ts`,
    ...args,
  ];
  const c = o.confine;
  if (!c) return new Proc("kipvs", cmd[0]!, cmd.slice(1), o.log);
  const caps = c.capabilities.map((n) => `+${n.toLowerCase()}`).join(",");
  const script = [
    "set -e",
    ...(c.readOnlyRoot ? ["mount -o remount,bind,ro /"] : []),
    "mount --bind /proc/sys /proc/sys",
    "mount -o remount,bind,ro /proc/sys",
    `exec setpriv ${c.noNewPrivs ? "--no-new-privs " : ""}--inh-caps=-all ` +
    `--bounding-set=-all${caps ? "," + caps : ""} "$@"`,
  ].join("\n");
  // unshare and sh exec, so the process is kipvs's own: its /proc/PID/status shows its rights.
  return new Proc("kipvs", "unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    script,
    "confined",
    ...cmd,
  ], o.log);
}

/** CapEff and NoNewPrivs of a process, from /proc/PID/status. */
export async function processRights(pid: number): Promise<{ capEff: bigint; noNewPrivs: boolean }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "";
  return { capEff: BigInt(`0x${field("CapEff")}`), noNewPrivs: field("NoNewPrivs") === "1" };
}

/** Capability bits by Kubernetes name (linux/capability.h). */
export const CAPABILITY_BITS: Record<string, number> = {
  NET_ADMIN: 12,
  NET_RAW: 13,
  SYS_ADMIN: 21,
};

// deno-lint-ignore no-explicit-any
type Json = any;

/** The DaemonSet's init command (after the binary) and its proxy container's confinement. */
export async function fromDaemonSet(): Promise<
  { init: string[]; run: string[]; confine: Confinement }
> {
  const ds = load(await Deno.readTextFile(`${ROOT}/deploy/daemonset.yaml`)) as Json;
  const pod = ds.spec.template.spec;
  const c = pod.containers.find((x: Json) => x.name === "kipvs");
  const sc = c.securityContext;
  if (JSON.stringify(sc.capabilities.drop) !== '["ALL"]') throw new Error("drop is not [ALL]");
  return {
    init: pod.initContainers[0].command.slice(1),
    // The flags that do not name the pod's files or variables.
    run: c.command.slice(1).filter((a: string) => !/^--(config|hostname-override)=/.test(a)),
    confine: {
      capabilities: sc.capabilities.add,
      noNewPrivs: sc.allowPrivilegeEscalation === false,
      readOnlyRoot: sc.readOnlyRootFilesystem === true,
    },
  };
}
