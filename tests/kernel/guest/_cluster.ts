/**
 * Helpers of the cluster test in the guest (cluster.guest.ts): the test API server and kipvs as
 * real processes, the API's writes over mTLS, traffic through tests/kernel/guest/client.py, the
 * dataplane as the kernel's own tools print it, and kipvs's healthz.
 *
 * @module
 */

import { run, sortedLines } from "./_run.ts";

const ROOT = Deno.env.get("KIPVS_ROOT") ?? new URL("../../..", import.meta.url).pathname;
const GUEST_DIR = `${ROOT}/tests/kernel/guest`;

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

/** Writes to the API server as a client-certificate user, the way kubectl would. */
export class Api {
  #url: string;
  #client: Deno.HttpClient;

  constructor(url: string, pki: { ca: string; cert: string; key: string }) {
    this.#url = url;
    this.#client = Deno.createHttpClient({ caCerts: [pki.ca], cert: pki.cert, key: pki.key });
  }

  /** Reads the PKI that apiserver_main.ts keeps in `dir/pki`. */
  static async open(url: string, dir: string): Promise<Api> {
    const read = (f: string) => Deno.readTextFile(`${dir}/pki/${f}`);
    return new Api(url, {
      ca: await read("ca.crt"),
      cert: await read("client.crt"),
      key: await read("client.key"),
    });
  }

  /** GET, POST, PUT or DELETE `path`; throws with the Status message on a failure. */
  async send(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(this.#url + path, {
      method,
      client: this.#client,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.message}`);
    return json;
  }

  /** Replaces an object at `path` with `obj` (the current resourceVersion is not required). */
  put(path: string, obj: unknown): Promise<Record<string, unknown>> {
    return this.send("PUT", path, obj);
  }

  /** Creates `obj` in the collection at `path`. */
  post(path: string, obj: unknown): Promise<Record<string, unknown>> {
    return this.send("POST", path, obj);
  }

  /** Closes the connection pool. */
  close(): void {
    this.#client.close();
  }
}

/** Which pod answered `count` new TCP connections to host:port, as counts by name ("ERR ..."). */
export async function traffic(
  host: string,
  port: number,
  count: number,
): Promise<Record<string, number>> {
  const out = await run(
    "python3",
    `${GUEST_DIR}/client.py`,
    "tcp",
    host,
    String(port),
    "--count",
    String(count),
    "--timeout",
    "2",
  );
  const counts: Record<string, number> = {};
  for (const l of out.split("\n").filter((x) => x !== "")) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
}

/** What the proxy programmed, as the kernel's tools print it (counters stripped). */
export interface DataplaneDump {
  ipvs: string[];
  ipsets: string[];
  iptables: string[];
  addresses: string[];
}

/** `ipvsadm -Sn`, `ipset save`, `iptables-legacy-save` (nat and filter) and kube-ipvs0's addresses. */
export async function dumpDataplane(): Promise<DataplaneDump> {
  const rules = async (table: string) =>
    (await run("iptables-legacy-save", "-t", table)).split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]$/, "[-]"));
  return {
    ipvs: sortedLines(await run("ipvsadm", "-Sn")),
    ipsets: sortedLines(await run("ipset", "save")),
    iptables: [...await rules("nat"), ...await rules("filter")],
    // `ip -o addr` of a link that does not exist yet: none.
    addresses: sortedLines(await run("ip", "-o", "addr", "show").catch(() => ""))
      .filter((l) => / kube-ipvs0 /.test(l)).map((l) => l.replace(/\s+valid_lft.*$/, "")),
  };
}

/** kipvs's /healthz answer. */
export interface Healthz {
  status: number;
  body: {
    lastUpdated: string;
    currentTime: string;
    nodeEligible?: boolean;
    source?: { synced: boolean; lastContact: string; staleSeconds: number; error?: string };
  };
}

/** GETs kipvs's /healthz (or /livez) on the node. */
export async function healthz(path = "/healthz", port = 10256): Promise<Healthz> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

/** Polls `check` until it returns a value other than undefined; throws naming `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const until = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await delay(100);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
