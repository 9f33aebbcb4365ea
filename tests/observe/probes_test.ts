import assert from "node:assert/strict";
import { KipvsError } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { ProbeServer, type ProbeServerOptions } from "../../src/observe/probes.ts";
import type { SourceHealth } from "../../src/source/source.ts";

const ANY = { hostname: "127.0.0.1", port: 0 };

function options(o: Partial<ProbeServerOptions> = {}): ProbeServerOptions {
  return {
    healthz: ANY,
    metrics: ANY,
    timeoutMs: 60_000,
    metricsText: () => Promise.resolve({ text: "kipvs_up 1\n", contentType: "text/plain" }),
    source: (): SourceHealth => ({ synced: true, lastContact: Date.now() }),
    logger: new Logger({ level: "error", sink: () => {} }),
    ...o,
  };
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** Runs `count` GETs of `url` from another thread, one every `intervalMs`, while `busy` runs. */
async function probeWhile(
  url: string,
  o: { count: number; intervalMs: number },
  busy: () => void,
): Promise<{ ms: number; status: number; at: number }[]> {
  const w = new Worker(new URL("./_probe_client.ts", import.meta.url), { type: "module" });
  try {
    const answers = new Promise<{ ms: number; status: number; at: number }[]>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
    });
    w.postMessage({ url, ...o });
    await new Promise((r) => setTimeout(r, 50)); // the client is running
    busy();
    return await answers;
  } finally {
    w.terminate();
  }
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the main thread holds its event loop, as a sync can */ }
}

Deno.test("ProbeServer answers /healthz, /livez and /metrics from its thread with what the daemon reported", async () => {
  let metricsAsked = 0;
  const p = await ProbeServer.start(options({
    timeoutMs: 200,
    metricsText: () => {
      metricsAsked++;
      return Promise.resolve({ text: `asked ${metricsAsked}\n`, contentType: "text/plain" });
    },
  }));
  try {
    const { healthz, metrics } = p.ports;
    assert.ok(healthz > 0 && metrics > 0 && healthz !== metrics);
    let h = await get(healthz, "/healthz");
    assert.equal(h.status, 200);
    const body = JSON.parse(h.body);
    assert.equal(body.nodeEligible, true);
    assert.equal(body.source.synced, true);
    p.queued(Date.now() - 1000); // a change waiting longer than the 200 ms timeout
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await get(healthz, "/healthz")).status, 503);
    assert.equal((await get(healthz, "/livez")).status, 503);
    p.updated(Date.now());
    p.setNodeEligible(false);
    await new Promise((r) => setTimeout(r, 20));
    h = await get(healthz, "/healthz");
    assert.deepEqual([h.status, JSON.parse(h.body).nodeEligible], [503, false]);
    assert.equal(
      (await get(healthz, "/livez")).status,
      200,
      "/livez is the proxy's, not the node's",
    );
    const m = await get(metrics, "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.body, /^asked \d+\n$/);
    assert.equal((await get(metrics, "/healthz")).status, 503, "the metrics port's /healthz too");
  } finally {
    await p.close();
  }
});

Deno.test("ProbeServer serves the health check node ports it is given, and closes the others", async () => {
  const p = await ProbeServer.start(options());
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  try {
    await p.sync([{ nodePort: port, namespace: "ns", name: "web", localEndpoints: 2 }]);
    const r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-load-balancing-endpoint-weight"), "2");
    assert.deepEqual(await r.json(), {
      service: { namespace: "ns", name: "web" },
      localEndpoints: 2,
      serviceProxyHealthy: true,
    });
    await p.sync([]);
    await assert.rejects(() => fetch(`http://127.0.0.1:${port}/`));
  } finally {
    await p.close();
  }
});

Deno.test("ProbeServer answers within 300 ms while the main thread is held for 1.5 s", async () => {
  const p = await ProbeServer.start(options());
  try {
    const got = await probeWhile(`http://127.0.0.1:${p.ports.healthz}/healthz`, {
      count: 10,
      intervalMs: 100,
    }, () => spin(1500));
    assert.ok(got.every((g) => g.status === 200), JSON.stringify(got));
    const held = got.filter((g) => g.at < 1400); // the answers asked while the main thread spun
    assert.ok(held.length >= 5, JSON.stringify(got));
    const slowest = Math.max(...held.map((g) => g.ms));
    assert.ok(slowest < 300, `slowest answer ${slowest.toFixed(0)} ms: ${JSON.stringify(got)}`);
  } finally {
    await p.close();
  }
});

Deno.test("ProbeServer fails /healthz when the main thread stops beating for the health timeout", async () => {
  const p = await ProbeServer.start(options({ timeoutMs: 300, heartbeatMs: 50 }));
  try {
    const got = await probeWhile(`http://127.0.0.1:${p.ports.healthz}/healthz`, {
      count: 8,
      intervalMs: 100,
    }, () => spin(1000));
    const early = got.filter((g) => g.at < 200);
    const stuck = got.filter((g) => g.at > 450 && g.at < 900);
    assert.ok(early.length > 0 && early.every((g) => g.status === 200), JSON.stringify(got));
    assert.ok(stuck.length > 0 && stuck.every((g) => g.status === 503), JSON.stringify(got));
    await new Promise((r) => setTimeout(r, 100)); // beating again
    assert.equal((await get(p.ports.healthz, "/healthz")).status, 200);
  } finally {
    await p.close();
  }
});

Deno.test("ProbeServer.start() names the flag whose address is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const err = await ProbeServer.start(options({ metrics: { hostname: "127.0.0.1", port } }))
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof KipvsError, String(err));
    assert.equal(err.code, "io");
    assert.match(
      err.message,
      new RegExp(`^--metrics-bind-address: cannot listen on 127.0.0.1:${port}`),
    );
  } finally {
    taken.close();
  }
});
