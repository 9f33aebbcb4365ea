/**
 * A resolved way to reach the API server: where it is, what to trust, and who we are. Built
 * from a kubeconfig (`kubeconfig.ts`), from the pod's service account (`incluster.ts`) or from
 * `--master` alone, and turned into requests by `client.ts`.
 *
 * @module
 */

import type { TokenSource } from "./token.ts";

/** How requests authenticate. */
export type Credentials =
  | { kind: "none" }
  | { kind: "bearer"; token: TokenSource }
  | { kind: "basic"; username: string; password: string };

/** Everything needed to open connections to one API server. */
export interface ApiConnection {
  /** Base URL without a trailing slash ("https://10.96.0.1:443"). */
  server: string;
  /** PEM certificates trusted for the server, in addition to the system's roots. */
  caCerts: string[];
  /** PEM client certificate and key for mTLS; both or neither. */
  clientCert?: string;
  /** PEM client key (see `clientCert`). */
  clientKey?: string;
  /** Skip verification of the server's certificate (kubeconfig `insecure-skip-tls-verify`). */
  insecureSkipTLSVerify: boolean;
  /** Bearer token, basic, or none (a client certificate alone). */
  credentials: Credentials;
  /** Where this came from, for logs ("kubeconfig /etc/k/kc context prod", "in-cluster"). */
  origin: string;
}

/** Normalises a server address: adds `https://` when no scheme is given, drops trailing "/". */
export function normaliseServer(server: string): string {
  const s = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `https://${server}`;
  return s.replace(/\/+$/, "");
}

/** Checks a server URL; returns an explanation when it is unusable. */
export function serverProblem(server: string): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be http or https";
  if (url.search || url.hash) return "must not carry a query or fragment";
  return undefined;
}
