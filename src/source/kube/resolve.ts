/**
 * Chooses how to reach the API server, as kube-proxy does: `--kubeconfig` (with `--master`
 * overriding its server) or `--master` alone; with neither, the pod's service account. Outside
 * a pod, kipvs then falls back to KUBECONFIG and `~/.kube/config`, as kubectl would.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { type ApiConnection, normaliseServer, serverProblem } from "./connection.ts";
import { inClusterAvailable, inClusterConnection } from "./incluster.ts";
import { loadKubeconfig } from "./kubeconfig.ts";

/** Options of {@link resolveConnection}. */
export interface ResolveOptions {
  /** `--kubeconfig`. */
  kubeconfig?: string;
  /** `--master`: the API server's URL. */
  master?: string;
  /** A kubeconfig context other than the current one. */
  context?: string;
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** Reads a file (default `Deno.readTextFile`). */
  readTextFile?: (path: string) => Promise<string>;
  /** Tells whether a file exists (default: `Deno.stat`). */
  exists?: (path: string) => Promise<boolean>;
  /** The service-account folder (tests). */
  serviceAccountDir?: string;
  /** How long a token read from a file is used before reading it again (default 60 s). */
  tokenPeriodMs?: number;
}

/** Resolves the connection kipvs uses, or fails naming what it tried. */
export async function resolveConnection(options: ResolveOptions = {}): Promise<ApiConnection> {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const exists = options.exists ?? fileExists;
  const common = {
    context: options.context,
    master: options.master,
    readTextFile: options.readTextFile,
    tokenPeriodMs: options.tokenPeriodMs,
  };
  if (options.kubeconfig) return await loadKubeconfig({ paths: [options.kubeconfig], ...common });
  if (options.master) {
    const server = normaliseServer(options.master);
    const problem = serverProblem(server);
    if (problem) throw new KipvsError("usage", `--master "${options.master}" ${problem}`);
    return {
      server,
      caCerts: [],
      insecureSkipTLSVerify: false,
      credentials: { kind: "none" },
      origin: "--master",
    };
  }
  if (inClusterAvailable(env)) {
    return await inClusterConnection({
      env,
      dir: options.serviceAccountDir,
      readTextFile: options.readTextFile,
      tokenPeriodMs: options.tokenPeriodMs,
    });
  }
  const fromEnv = (env("KUBECONFIG") ?? "").split(":").filter((p) => p !== "");
  const present: string[] = [];
  for (const p of fromEnv) if (await exists(p)) present.push(p);
  if (present.length > 0) return await loadKubeconfig({ paths: present, ...common });
  const home = env("HOME");
  const dflt = home ? `${home}/.kube/config` : undefined;
  if (dflt && await exists(dflt)) return await loadKubeconfig({ paths: [dflt], ...common });
  throw new KipvsError(
    "invalid-config",
    "no way to reach the API server: give --kubeconfig or --master, or run in a pod " +
      `(KUBERNETES_SERVICE_HOST unset; KUBECONFIG ${fromEnv.length ? "names no file" : "unset"}; ` +
      `no ${dflt ?? "~/.kube/config"})`,
  );
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
