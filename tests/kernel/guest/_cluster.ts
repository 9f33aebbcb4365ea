/**
 * The node as the cluster test in the guest sees it: the API's writes over mTLS, traffic through
 * tests/kernel/guest/client.py, the dataplane as the kernel's own tools print it, and kipvs's
 * healthz.
 *
 * @module
 */

import { run, sortedLines } from "./_run.ts";

const ROOT = Deno.env.get("KIPVS_ROOT") ?? new URL("../../..", import.meta.url).pathname;
const GUEST_DIR = `${ROOT}/tests/kernel/guest`;

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

/**
 * `ipvsadm -Sn`, `ipset save`, the cell's `iptables-<KIPVS_BACKEND>-save` (nat and filter) and
 * kube-ipvs0's addresses.
 */
export async function dumpDataplane(): Promise<DataplaneDump> {
  const save = `iptables-${Deno.env.get("KIPVS_BACKEND") ?? "legacy"}-save`;
  const rules = async (table: string) =>
    (await run(save, "-t", table)).split("\n")
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
