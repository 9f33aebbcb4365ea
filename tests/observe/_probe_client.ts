/// <reference lib="deno.worker" />
/**
 * A client on a thread of its own for probes_test.ts: GETs `url` `count` times, one every
 * `intervalMs`, and posts back each answer's status and latency. It runs while the test's main
 * thread is busy, as a kubelet probe runs while kipvs syncs.
 *
 * @module
 */

self.onmessage = async (e: MessageEvent<{ url: string; count: number; intervalMs: number }>) => {
  const { url, count, intervalMs } = e.data;
  const out: { ms: number; status: number; at: number }[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const at = performance.now();
    const r = await fetch(url);
    await r.body?.cancel();
    out.push({ ms: performance.now() - at, status: r.status, at: at - t0 });
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  self.postMessage(out);
};
