import assert from "node:assert/strict";
import { Logger } from "../../../src/log.ts";
import { KubeClient } from "../../../src/source/kube/client.ts";
import {
  type DeltaBatch,
  Informer,
  type InformerOptions,
  watchSilenceMs,
} from "../../../src/source/kube/informer.ts";
import { PROXY_LABEL_SELECTOR, SERVICES } from "../../../src/source/kube/resources.ts";
import { TestApiServer, type TestApiServerOptions } from "../../support/apiserver.ts";
import { rawService, rawSlice } from "../../support/kube_objects.ts";
import { delay, waitFor } from "../../support/wait.ts";

interface Rig {
  s: TestApiServer;
  informer: Informer;
  batches: DeltaBatch[];
  logs: string[];
  /** Deltas of every batch as "type key" strings. */
  deltas(): string[];
}

/** A test server and an informer on its Services, with short timings; cleaned up after `fn`. */
async function rig(
  o: {
    server?: TestApiServerOptions;
    informer?: Partial<InformerOptions>;
    seed?: (s: TestApiServer) => void;
  },
  fn: (r: Rig) => Promise<void>,
): Promise<void> {
  const s = await TestApiServer.start(o.server);
  o.seed?.(s);
  const client = new KubeClient({
    connection: {
      server: s.url,
      caCerts: [],
      insecureSkipTLSVerify: false,
      credentials: { kind: "none" },
      origin: "test",
    },
  });
  const batches: DeltaBatch[] = [];
  const logs: string[] = [];
  const informer = new Informer({
    client,
    resource: SERVICES,
    selector: { labelSelector: PROXY_LABEL_SELECTOR },
    log: new Logger({ level: "debug", sink: (l) => logs.push(l) }),
    onDeltas: (b) => batches.push(b),
    backoff: { initialMs: 20, maxMs: 200, random: () => 0 },
    watchTimeoutSeconds: () => 60,
    ...o.informer,
  });
  const deltas = () => batches.flatMap((b) => b.deltas.map((d) => `${d.type} ${d.key}`));
  try {
    await fn({ s, informer, batches, logs, deltas });
  } finally {
    await informer.stop();
    client.close();
    await s.close();
  }
}

const seedAB = (s: TestApiServer) => {
  s.apply("services", rawService("default", "a"));
  s.apply("services", rawService("default", "b"));
};

Deno.test("Informer lists in pages and announces the collection once, after the last page", async () => {
  await rig({
    informer: { pageSize: 3 },
    seed: (s) => {
      for (let i = 0; i < 7; i++) s.apply("services", rawService("default", `s${i}`));
      s.inject({ kind: "status", code: 500, match: { verb: "list" }, skip: 2 }); // the third page fails
    },
  }, async ({ s, informer, batches }) => {
    informer.start();
    await waitFor("the failed third page", () => s.requests.some((r) => r.status === 500));
    assert.equal(informer.store.size, 0, "two pages of three are not a view");
    assert.equal(batches.length, 0);
    assert.equal(await informer.synced(), true);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.relist, true);
    assert.equal(batches[0]!.deltas.length, 7);
    assert.deepEqual(
      s.requestsOf("list").map((
        r,
      ) => [r.query.limit, r.query.continue ? "continue" : "", r.status]),
      [["3", "", 200], ["3", "continue", 200], ["3", "continue", 500], ["3", "", 200], [
        "3",
        "continue",
        200,
      ], [
        "3",
        "continue",
        200,
      ]],
    );
    assert.equal(s.requestsOf("list")[0]!.query.labelSelector, PROXY_LABEL_SELECTOR);
    // The first page may come from the server's cache (resourceVersion 0); continues carry none.
    assert.deepEqual(s.requestsOf("list").map((r) => r.query.resourceVersion), [
      "0",
      undefined,
      undefined,
      "0",
      undefined,
      undefined,
    ]);
  });
});

Deno.test("Informer lists everything at once when the continue token expires mid-list", async () => {
  await rig({
    informer: { pageSize: 2 },
    seed: (s) => {
      for (let i = 0; i < 5; i++) s.apply("services", rawService("default", `s${i}`));
      s.beforeRequest = (r) => {
        if (!r.query.continue) return;
        s.store.bump(); // writes elsewhere, then etcd compacts between two pages
        s.compact();
      };
    },
  }, async ({ s, informer, batches }) => {
    informer.start();
    await informer.synced();
    assert.deepEqual(
      s.requestsOf("list").map((r) => [r.query.limit ?? "none", !!r.query.continue, r.status]),
      [["2", false, 200], ["2", true, 410], ["none", false, 200]],
    );
    assert.equal(batches.length, 1);
    assert.equal(informer.store.size, 5);
  });
});

Deno.test("Informer resumes after the server ends a watch at timeoutSeconds, without listing again", async () => {
  await rig(
    { seed: seedAB, informer: { watchTimeoutSeconds: () => 1 } },
    async ({ s, informer, deltas }) => {
      informer.start();
      await informer.synced();
      await waitFor("the watch", () => s.openWatches === 1);
      const changed = s.apply("services", rawService("default", "a", { port: 81 }));
      await waitFor("the second watch", () => s.requestsOf("watch").length === 2, 3000);
      assert.equal(
        s.requestsOf("watch")[1]!.query.resourceVersion,
        changed.metadata.resourceVersion,
      );
      s.delete("services", "default", "b");
      await waitFor("the delete", () => deltas().includes("delete default/b"));
      assert.equal(informer.stats.lists, 1);
      assert.equal(informer.stats.errors, 0);
      assert.deepEqual(deltas(), [
        "upsert default/a",
        "upsert default/b",
        "upsert default/a",
        "delete default/b",
      ]);
    },
  );
});

Deno.test("Informer resumes from a bookmark after compaction instead of listing again", async () => {
  await rig({ seed: seedAB, server: { bookmarkIntervalMs: 30 } }, async ({ s, informer }) => {
    informer.start();
    await informer.synced();
    const listedAt = informer.resourceVersion;
    // Other resources churn; the Services watch is quiet but its bookmarks carry the new version.
    for (let i = 0; i < 5; i++) {
      s.apply("endpointslices", rawSlice("default", `x${i}`, { service: "x" }));
    }
    const now = String(s.store.resourceVersion);
    await waitFor("a bookmark", () => informer.resourceVersion === now);
    s.compact();
    s.dropWatches();
    await waitFor("the new watch", () => s.requestsOf("watch").length === 2);
    assert.notEqual(listedAt, now);
    assert.equal(s.requestsOf("watch")[1]!.query.resourceVersion, now);
    assert.equal(s.requestsOf("watch")[1]!.query.allowWatchBookmarks, "true");
    await delay(50);
    assert.equal(informer.stats.relists, 0);
    assert.equal(s.requestsOf("list").length, 1);
  });
});

Deno.test("Informer relists when its resourceVersion was compacted away, and reports the difference", async () => {
  await rig({ seed: seedAB }, async ({ s, informer, batches }) => {
    informer.start();
    await informer.synced();
    await waitFor("the watch", () => s.openWatches === 1);
    // While the watch is down: a deleted, b changed, c added, and the log compacted.
    s.dropWatches();
    s.delete("services", "default", "a");
    s.apply("services", rawService("default", "b", { port: 90 }));
    s.apply("services", rawService("default", "c"));
    s.compact();
    const rv = String(s.store.resourceVersion);
    await waitFor(
      "a watch from the relist",
      () => s.requestsOf("watch").at(-1)?.query.resourceVersion === rv,
    );
    assert.equal(informer.stats.relists, 1);
    assert.equal(informer.stats.lists, 2);
    assert.deepEqual(
      s.requestsOf("list").map((r) => r.query.resourceVersion),
      ["0", undefined],
      "after 410 the relist reads the latest state, not the server's cache",
    );
    const last = batches.at(-1)!;
    assert.equal(last.relist, true);
    assert.deepEqual(last.deltas.map((d) => `${d.type} ${d.key}`).sort(), [
      "delete default/a",
      "upsert default/b",
      "upsert default/c",
    ]);
    const b = last.deltas.find((d) => d.key === "default/b")!;
    assert.ok(b.type === "upsert" && b.previousVersion, "an update says which version it replaces");
    assert.deepEqual([...informer.store.keys()].sort(), ["default/b", "default/c"]);
  });
});

Deno.test("Informer relists when the server answers a watch with HTTP 410", async () => {
  await rig({ seed: seedAB }, async ({ s, informer }) => {
    s.inject({ kind: "status", code: 410, reason: "Gone", match: { verb: "watch" } });
    informer.start();
    await waitFor("the relist", () => informer.stats.lists === 2);
    assert.equal(informer.stats.relists, 1);
    assert.equal(informer.stats.errors, 0);
  });
});

Deno.test("Informer relists at once when the watch it resumes after an outage is gone (410)", async () => {
  await rig(
    { seed: seedAB, informer: { backoff: { initialMs: 50, maxMs: 5000, random: () => 0 } } },
    async ({ s, informer, deltas }) => {
      informer.start();
      await informer.synced();
      await waitFor("the watch", () => s.openWatches === 1);
      s.apply("services", rawService("default", "c"));
      await waitFor("the event", () => deltas().includes("upsert default/c"));
      // The API server goes away (a drop, then three 500s: waits of 50, 100, 200 and 400 ms)
      // and comes back with its event log gone: the resumed watch gets 410.
      s.inject({ kind: "status", code: 500, times: 3, match: { verb: "watch" } });
      const at: { verb?: string; t: number }[] = [];
      s.beforeRequest = (r) => void at.push({ verb: r.verb, t: performance.now() });
      s.dropWatches();
      s.apply("services", rawService("default", "d"));
      s.compact();
      await waitFor("the relist", () => informer.stats.lists === 2, 3000);
      const list = at.find((r) => r.verb === "list")!;
      const gone = at.findLast((r) => r.verb === "watch" && r.t < list.t)!;
      // The events seen since the first list show the 410 is no loop: no fifth wait (800 ms).
      assert.ok(list.t - gone.t < 400, `listed ${Math.round(list.t - gone.t)} ms after the 410`);
      assert.ok(informer.store.has("default/d"));
      assert.equal(informer.stats.relists, 1);
    },
  );
});

Deno.test("Informer re-watches after a dropped connection and loses no change", async () => {
  await rig({ seed: seedAB }, async ({ s, informer, deltas }) => {
    informer.start();
    await informer.synced();
    await waitFor("the watch", () => s.openWatches === 1);
    s.dropWatches();
    s.apply("services", rawService("default", "c"));
    s.delete("services", "default", "a");
    await waitFor("the replayed changes", () => deltas().includes("delete default/a"));
    assert.deepEqual([...informer.store.keys()].sort(), ["default/b", "default/c"]);
    assert.equal(informer.stats.lists, 1, "a drop is not a reason to list again");
    assert.equal(informer.stats.errors, 1);
  });
});

Deno.test("Informer backs off exponentially while the server fails and keeps its copy meanwhile", async () => {
  await rig(
    { seed: seedAB, informer: { backoff: { initialMs: 40, maxMs: 1000, random: () => 0 } } },
    async ({ s, informer }) => {
      informer.start();
      await informer.synced();
      await waitFor("the watch", () => s.openWatches === 1);
      s.inject({ kind: "status", code: 500, times: 3, match: { verb: "watch" } });
      const t0 = performance.now();
      const at: number[] = [];
      s.beforeRequest = (r) => void (r.verb === "watch" && at.push(performance.now() - t0));
      s.dropWatches();
      await waitFor("a 500", () => /500 InternalError/.test(informer.health().error ?? ""));
      assert.equal(informer.store.size, 2);
      await waitFor("recovery", () => s.openWatches === 1 && at.length === 4, 3000);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      // Waits of 80, 160 and 320 ms (40 ms for the drop came first): each about twice the last.
      assert.ok(
        gaps[0]! >= 75 && gaps[1]! >= 150 && gaps[2]! >= 300,
        `gaps ${gaps.map(Math.round)}`,
      );
      await waitFor("the error to clear", () => informer.health().error === undefined);
      assert.equal(informer.stats.lists, 1);
    },
  );
});

Deno.test("Informer waits as long as Retry-After says after a 429", async () => {
  await rig({ seed: seedAB }, async ({ s, informer }) => {
    s.inject({ kind: "status", code: 429, retryAfterSeconds: 1, match: { verb: "list" } });
    const at: number[] = [];
    s.beforeRequest = (r) => void (r.verb === "list" && at.push(performance.now()));
    informer.start();
    await informer.synced();
    const gap = at[1]! - at[0]!;
    assert.ok(gap >= 1000 && gap < 3000, `retried after ${Math.round(gap)} ms`);
  });
});

Deno.test("Informer restarts a watch that goes silent without closing", async () => {
  await rig(
    { seed: seedAB, informer: { watchSilenceMs: 150 } },
    async ({ s, informer, deltas, logs }) => {
      s.inject({ kind: "stall", match: { verb: "watch" } });
      informer.start();
      await informer.synced();
      await waitFor("a second watch", () => s.requestsOf("watch").length === 2, 2000);
      assert.ok(
        logs.some((l) => /silent for 150 ms/.test(l)),
        "the restart is logged with its reason",
      );
      s.apply("services", rawService("default", "c"));
      await waitFor("the event on the new watch", () => deltas().includes("upsert default/c"));
      assert.equal(informer.stats.lists, 1);
    },
  );
});

Deno.test("Informer backs off when the server ends watches at once instead of spinning", async () => {
  await rig(
    { seed: seedAB, informer: { backoff: { initialMs: 50, maxMs: 400, random: () => 0 } } },
    async ({ s, informer }) => {
      s.inject({ kind: "end", times: 1000, match: { verb: "watch" } });
      informer.start();
      await informer.synced();
      await delay(400);
      const n = s.requestsOf("watch").length;
      assert.ok(n >= 2 && n <= 5, `${n} watches in 400 ms, not hundreds`);
      assert.match(informer.health().error ?? "", /ended the watch at once/);
    },
  );
});

Deno.test("watchSilenceMs() gives up on a watch after 2.5 bookmark periods, or its timeout + 30 s if sooner", () => {
  assert.equal(watchSilenceMs(300), 150_000, "kube-apiserver sends a bookmark a minute");
  assert.equal(watchSilenceMs(599), 150_000);
  assert.equal(watchSilenceMs(60), 90_000);
});

Deno.test("Informer keeps its copy and reports since when the server has been unreachable", async () => {
  let t = 1_000_000;
  await rig({ seed: seedAB, informer: { now: () => t } }, async ({ s, informer, batches }) => {
    informer.start();
    await informer.synced();
    await waitFor("the watch", () => s.openWatches === 1);
    t += 5_000;
    assert.equal(informer.health().lastContact, t, "an open watch is contact");
    await s.close();
    const lostAt = t;
    await waitFor(
      "a refused connection",
      () => /cannot reach the server/.test(informer.health().error ?? ""),
    );
    t += 60_000;
    const h = informer.health();
    assert.equal(h.synced, true);
    assert.equal(h.lastContact, lostAt);
    assert.equal(informer.store.size, 2);
    assert.equal(batches.length, 1, "nothing was announced: the view is as it was");
  });
});

Deno.test("Informer.stop() ends a loop that waits in backoff, and synced() answers false when stopped first", async () => {
  const s = await TestApiServer.start();
  const url = s.url;
  await s.close();
  const client = new KubeClient({
    connection: {
      server: url,
      caCerts: [],
      insecureSkipTLSVerify: false,
      credentials: { kind: "none" },
      origin: "t",
    },
  });
  const informer = new Informer({
    client,
    resource: SERVICES,
    log: new Logger({ sink: () => {} }),
    onDeltas: () => {},
    backoff: { initialMs: 60_000 },
  });
  informer.start();
  const synced = informer.synced();
  await waitFor("the first failure", () => informer.stats.errors === 1);
  const t0 = performance.now();
  await informer.stop();
  assert.ok(performance.now() - t0 < 500);
  assert.equal(await synced, false);
  client.close();
});

Deno.test("stopping the source ends its watches even after a garbage collection", async () => {
  // Deno's fetch forgets a body's abort after a GC (see src/source/kube/body.ts): run a child
  // with gc() exposed, collect garbage while watches are open, then stop.
  const script = new URL("./_stop_after_gc.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(text, "stopped\nclosed\n", new TextDecoder().decode(out.stderr));
});
