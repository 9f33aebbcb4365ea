/**
 * Who else writes the dataplane: asked when the same objects drift sync after sync. The commonest
 * answer is kube-proxy left running during a migration; it is seen by its process (`pgrep -x
 * kube-proxy`: kipvs on the host, or a pod sharing the host's PID namespace; Deno refuses /proc
 * to anything short of --allow-all, so the procps program reads it) or by its healthz port,
 * 10256, answering while kipvs's own healthz listens elsewhere (kipvs holds 10256 itself by
 * default, so kube-proxy's healthz would have failed to bind).
 *
 * @module
 */

import type { Exec } from "../dataplane/exec.ts";

/** kube-proxy's healthz port. */
export const KUBE_PROXY_HEALTHZ_PORT = 10256;

/** Options of {@link otherWriters}. */
export interface OtherWritersOptions {
  exec: Exec;
  /** The port of kipvs's own healthz: when it is kube-proxy's, no other process holds it. */
  healthzPort: number;
  /** How long the healthz probe may take, ms (default 500). */
  timeoutMs?: number;
  /** `fetch`, replaceable in tests. */
  fetch?: typeof fetch;
}

/**
 * A check that names the other writers it sees ("kube-proxy (its process is running; port 10256
 * answers /healthz)"), or gives undefined. Never throws: what it cannot look at, it does not name.
 */
export function otherWriters(o: OtherWritersOptions): () => Promise<string | undefined> {
  return async () => {
    const seen = [...await processSeen(o.exec), ...await healthzSeen(o)];
    return seen.length > 0 ? `kube-proxy (${seen.join("; ")})` : undefined;
  };
}

async function processSeen(exec: Exec): Promise<string[]> {
  const r = await exec.run("pgrep", ["-x", "kube-proxy"], { timeoutMs: 2000 }).catch(() => {
    return undefined;
  });
  if (r?.code !== 0) return [];
  const pids = r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).slice(0, 3);
  return [`its process is running (pid ${pids.join(", ")})`];
}

async function healthzSeen(o: OtherWritersOptions): Promise<string[]> {
  if (o.healthzPort === KUBE_PROXY_HEALTHZ_PORT) return [];
  try {
    const res = await (o.fetch ?? fetch)(
      `http://127.0.0.1:${KUBE_PROXY_HEALTHZ_PORT}/healthz`,
      { signal: AbortSignal.timeout(o.timeoutMs ?? 500) },
    );
    await res.body?.cancel();
    return [`port ${KUBE_PROXY_HEALTHZ_PORT} answers /healthz`];
  } catch {
    return [];
  }
}
