/**
 * In-cluster configuration: a pod reaches the API server at KUBERNETES_SERVICE_HOST:PORT, trusts
 * the service account's `ca.crt` and authenticates with its token, re-read as it rotates.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { ApiConnection } from "./connection.ts";
import { FileToken } from "./token.ts";

/** Where a pod's service-account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Options of {@link inClusterConnection}. */
export interface InClusterOptions {
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** The service-account folder (default {@link SERVICE_ACCOUNT_DIR}). */
  dir?: string;
  /** Reads a file (default `Deno.readTextFile`). */
  readTextFile?: (path: string) => Promise<string>;
  /** How long a token is used before the file is read again (default 60 s). */
  tokenPeriodMs?: number;
}

/** True when the environment looks like a pod's (KUBERNETES_SERVICE_HOST and _PORT set). */
export function inClusterAvailable(env: (name: string) => string | undefined): boolean {
  return !!env("KUBERNETES_SERVICE_HOST") && !!env("KUBERNETES_SERVICE_PORT");
}

/** The connection of a pod's service account. The token must be readable now. */
export async function inClusterConnection(options: InClusterOptions = {}): Promise<ApiConnection> {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const read = options.readTextFile ?? Deno.readTextFile;
  const dir = options.dir ?? SERVICE_ACCOUNT_DIR;
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new KipvsError(
      "invalid-config",
      "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set " +
        "(or give --kubeconfig)",
    );
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new KipvsError("invalid-config", `KUBERNETES_SERVICE_PORT "${port}" is not a port`);
  }
  const caPath = `${dir}/ca.crt`;
  let ca: string;
  try {
    ca = await read(caPath);
  } catch (err) {
    throw new KipvsError("io", `cannot read the service account's CA ${caPath}`, { cause: err });
  }
  const token = new FileToken({
    path: `${dir}/token`,
    periodMs: options.tokenPeriodMs,
    readTextFile: read,
  });
  await token.token(); // fail now, naming the file, rather than on the first request
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    caCerts: [ca],
    insecureSkipTLSVerify: false,
    credentials: { kind: "bearer", token },
    origin: "in-cluster service account",
  };
}
