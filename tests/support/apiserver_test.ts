import assert from "node:assert/strict";
import { KubeClient } from "../../src/source/kube/client.ts";
import { resolveConnection } from "../../src/source/kube/resolve.ts";
import { NODES } from "../../src/source/kube/resources.ts";
import { TestApiServer } from "./apiserver.ts";
import { parseFieldSelector, parseLabelSelector, SelectorError } from "./_selectors.ts";
import { rawNode, rawService, rawSlice } from "./kube_objects.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

// Tests of the test API server itself: a fake that does not answer like the real server would
// make every test built on it worthless.

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

/** Reads a watch to its end (or until `max` events) and returns the parsed events. */
async function readWatch(url: string, max = Infinity): Promise<{ type: string; object: Json }[]> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.status, 200);
  const events = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    while (events.length < max) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) if (l) events.push(JSON.parse(l));
    }
  } finally {
    ac.abort();
    await reader.cancel().catch(() => {});
  }
  return events.slice(0, max);
}

Deno.test("the test API server keeps one resourceVersion across resources and lists carry it", async () => {
  const s = await TestApiServer.start();
  try {
    const a = s.apply("services", rawService("default", "a"));
    const n = s.apply("nodes", rawNode("node-1"));
    assert.equal(Number(n.metadata.resourceVersion), Number(a.metadata.resourceVersion) + 1);
    const { body } = await getJson(`${s.url}/api/v1/services`);
    assert.equal(body.kind, "ServiceList");
    assert.equal(body.metadata.resourceVersion, n.metadata.resourceVersion);
    assert.equal(body.items.length, 1);
    assert.equal(
      body.items[0].kind,
      undefined,
      "list items carry no kind, as from the real server",
    );
    assert.equal(body.items[0].metadata.namespace, "default");
  } finally {
    await s.close();
  }
});

Deno.test("the test API server pages a list through a snapshot and expires its token on compaction", async () => {
  const s = await TestApiServer.start();
  try {
    for (const n of ["a", "b", "c", "d", "e"]) s.apply("services", rawService("default", n));
    const p1 = (await getJson(`${s.url}/api/v1/services?limit=2`)).body;
    assert.deepEqual(p1.items.map((i: Json) => i.metadata.name), ["a", "b"]);
    assert.equal(p1.metadata.remainingItemCount, 3);
    s.delete("services", "default", "c"); // after the first page: the snapshot still has it
    s.apply("services", rawService("default", "f"));
    const p2 =
      (await getJson(`${s.url}/api/v1/services?limit=2&continue=${p1.metadata.continue}`)).body;
    assert.deepEqual(p2.items.map((i: Json) => i.metadata.name), ["c", "d"]);
    assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
    const notOlder = await getJson(
      `${s.url}/api/v1/services?resourceVersion=${p1.metadata.resourceVersion}`,
    );
    assert.equal(notOlder.body.items.length, 5, "a list at a version not older than the given one");
    const future = await getJson(`${s.url}/api/v1/services?resourceVersion=99999`);
    assert.equal(future.status, 504);
    assert.match(future.body.message, /Too large resource version/);
    s.compact();
    const old = await getJson(
      `${s.url}/api/v1/services?resourceVersion=${p1.metadata.resourceVersion}`,
    );
    assert.equal(old.status, 410);
    const p3 = await getJson(`${s.url}/api/v1/services?limit=2&continue=${p2.metadata.continue}`);
    assert.equal(p3.status, 410);
    assert.equal(p3.body.kind, "Status");
    assert.equal(p3.body.reason, "Expired");
    assert.equal(p3.body.code, 410);
  } finally {
    await s.close();
  }
});

Deno.test("the test API server filters by kube-proxy's label selector and a node field selector", async () => {
  const s = await TestApiServer.start();
  try {
    s.apply("services", rawService("default", "plain"));
    s.apply(
      "services",
      rawService("default", "headless", { labels: { "service.kubernetes.io/headless": "" } }),
    );
    s.apply(
      "services",
      rawService("default", "other", {
        labels: { "service.kubernetes.io/service-proxy-name": "x" },
      }),
    );
    s.apply("nodes", rawNode("node-1"));
    s.apply("nodes", rawNode("node-2"));
    const sel = encodeURIComponent(
      "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless",
    );
    const svcs = (await getJson(`${s.url}/api/v1/services?labelSelector=${sel}`)).body;
    assert.deepEqual(svcs.items.map((i: Json) => i.metadata.name), ["plain"]);
    const nodes =
      (await getJson(`${s.url}/api/v1/nodes?fieldSelector=metadata.name%3Dnode-2`)).body;
    assert.deepEqual(nodes.items.map((i: Json) => i.metadata.name), ["node-2"]);
    const bad = await getJson(`${s.url}/api/v1/nodes?fieldSelector=spec.foo%3Dx`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.reason, "BadRequest");
  } finally {
    await s.close();
  }
});

Deno.test("the test API server's watch from 0 sends current objects as ADDED, then live events", async () => {
  const s = await TestApiServer.start();
  try {
    s.apply("services", rawService("default", "a"));
    const events = readWatch(`${s.url}/api/v1/services?watch=1&resourceVersion=0`, 3);
    await new Promise((r) => setTimeout(r, 50));
    s.apply("services", rawService("default", "a", { port: 81 }));
    s.delete("services", "default", "a");
    const got = await events;
    assert.deepEqual(got.map((e) => e.type), ["ADDED", "MODIFIED", "DELETED"]);
    assert.equal(got[1]!.object.kind, "Service");
    assert.equal(got[1]!.object.spec.ports[0].port, 81);
  } finally {
    await s.close();
  }
});

Deno.test("the test API server replays a watch from a resourceVersion and answers a too old one with ERROR 410", async () => {
  const s = await TestApiServer.start();
  try {
    const a = s.apply("services", rawService("default", "a"));
    s.apply("services", rawService("default", "b"));
    const replay = await readWatch(
      `${s.url}/api/v1/services?watch=1&resourceVersion=${a.metadata.resourceVersion}`,
      1,
    );
    assert.equal(replay[0]!.object.metadata.name, "b");
    s.compact();
    const gone = await readWatch(
      `${s.url}/api/v1/services?watch=1&resourceVersion=${a.metadata.resourceVersion}`,
    );
    assert.equal(gone.length, 1, "one ERROR event, then the server ends the watch");
    assert.equal(gone[0]!.type, "ERROR");
    assert.equal(gone[0]!.object.code, 410);
    assert.equal(gone[0]!.object.reason, "Expired");
  } finally {
    await s.close();
  }
});

Deno.test("the test API server turns label changes into ADDED and DELETED for a selective watch", async () => {
  const s = await TestApiServer.start();
  try {
    const base = s.apply("services", rawService("default", "a"));
    const events = readWatch(
      `${s.url}/api/v1/services?watch=1&resourceVersion=${base.metadata.resourceVersion}` +
        "&labelSelector=!service.kubernetes.io%2Fheadless",
      2,
    );
    await new Promise((r) => setTimeout(r, 50));
    s.apply(
      "services",
      rawService("default", "a", { labels: { "service.kubernetes.io/headless": "" } }),
    );
    s.apply("services", rawService("default", "a"));
    assert.deepEqual((await events).map((e) => e.type), ["DELETED", "ADDED"]);
  } finally {
    await s.close();
  }
});

Deno.test("the test API server sends bookmarks only when asked and ends a watch at timeoutSeconds", async () => {
  const s = await TestApiServer.start({ bookmarkIntervalMs: 100 });
  try {
    s.apply("services", rawService("default", "a"));
    const rv = String(s.store.resourceVersion);
    const t0 = performance.now();
    const url = `${s.url}/api/v1/services?watch=1&resourceVersion=${rv}&timeoutSeconds=1`;
    const [without, withBm] = await Promise.all([
      readWatch(url).then((e) => ({ e, took: performance.now() - t0 })),
      readWatch(`${url}&allowWatchBookmarks=true`),
    ]);
    assert.deepEqual(without.e, []);
    assert.ok(
      without.took >= 950 && without.took < 3000,
      `the watch ended after ${without.took} ms`,
    );
    assert.ok(withBm.length >= 5, `${withBm.length} bookmarks`);
    assert.ok(
      withBm.every((e) => e.type === "BOOKMARK" && e.object.metadata.resourceVersion === rv),
    );
  } finally {
    await s.close();
  }
});

Deno.test("the test API server answers 401 without credentials and 403 when the authorizer refuses", async () => {
  const s = await TestApiServer.start({
    tokens: { "good": "alice", "nosy": "bob" },
    authorize: ({ user, verb }) => user === "alice" || verb === "get",
  });
  try {
    const anon = await getJson(`${s.url}/api/v1/services`);
    assert.equal(anon.status, 401);
    assert.deepEqual(anon.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
    const bob = await getJson(`${s.url}/api/v1/services`, {
      headers: { Authorization: "Bearer nosy" },
    });
    assert.equal(bob.status, 403);
    assert.match(bob.body.message, /User "bob" cannot list resource "services"/);
    const alice = await getJson(`${s.url}/api/v1/services`, {
      headers: { Authorization: "Bearer good" },
    });
    assert.equal(alice.status, 200);
    assert.equal(s.requests.at(-1)!.user, "alice");
  } finally {
    await s.close();
  }
});

Deno.test("the test API server injects 429 with Retry-After, 500 and dropped connections once each", async () => {
  const s = await TestApiServer.start();
  try {
    s.inject({ kind: "status", code: 429, retryAfterSeconds: 3, match: { verb: "list" } });
    s.inject({ kind: "status", code: 500, match: { verb: "list" } });
    s.inject({ kind: "drop", match: { verb: "list" } });
    const r1 = await fetch(`${s.url}/api/v1/services`);
    assert.equal(r1.status, 429);
    assert.equal(r1.headers.get("retry-after"), "3");
    assert.equal((await r1.json()).details.retryAfterSeconds, 3);
    const r2 = await fetch(`${s.url}/api/v1/services`);
    assert.equal(r2.status, 500);
    assert.equal((await r2.json()).reason, "InternalError");
    // A fresh connection: on a pooled one, Deno's fetch would transparently retry the request.
    const fresh = Deno.createHttpClient({});
    await assert.rejects(fetch(`${s.url}/api/v1/services`, { client: fresh }), TypeError);
    fresh.close();
    assert.equal(
      (await fetch(`${s.url}/api/v1/services`).then((r) => r.json())).kind,
      "ServiceList",
    );
  } finally {
    await s.close();
  }
});

Deno.test("the test API server creates, replaces and deletes over HTTP with conflicts as the real one", async () => {
  const s = await TestApiServer.start();
  try {
    const post = (body: unknown) =>
      getJson(`${s.url}/api/v1/namespaces/default/services`, {
        method: "POST",
        body: JSON.stringify(body),
      });
    assert.equal((await post(rawService("default", "a"))).status, 201);
    const again = await post(rawService("default", "a"));
    assert.equal(again.status, 409);
    assert.equal(again.body.reason, "AlreadyExists");
    const stale = rawService("default", "a", { port: 82 });
    stale.metadata.resourceVersion = "1";
    const put = await getJson(`${s.url}/api/v1/namespaces/default/services/a`, {
      method: "PUT",
      body: JSON.stringify(stale),
    });
    assert.equal(put.status, 409);
    assert.equal(put.body.reason, "Conflict");
    const del = await getJson(`${s.url}/api/v1/namespaces/default/services/a`, {
      method: "DELETE",
    });
    assert.equal(del.status, 200);
    const missing = await getJson(`${s.url}/api/v1/namespaces/default/services/a`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.reason, "NotFound");
  } finally {
    await s.close();
  }
});

Deno.test("kubectl reads the test API server the way it reads a real one", async (t) => {
  const kubectl = await new Deno.Command("kubectl", {
    args: ["version", "--client"],
    stdout: "null",
    stderr: "null",
  })
    .output().then((o) => o.success, () => false);
  if (!kubectl) {
    t.step({ name: "kubectl is not installed", ignore: true, fn: () => {} });
    return;
  }
  const s = await TestApiServer.start();
  try {
    s.apply("services", rawService("default", "web"));
    s.apply("endpointslices", rawSlice("default", "web-1", { service: "web" }));
    s.apply("nodes", rawNode("node-1"));
    const run = async (...args: string[]) => {
      const o = await new Deno.Command("kubectl", { args: ["--server", s.url, ...args] }).output();
      assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
      return new TextDecoder().decode(o.stdout);
    };
    const raw = JSON.parse(await run("get", "--raw", "/apis/discovery.k8s.io/v1/endpointslices"));
    const direct = await (await fetch(`${s.url}/apis/discovery.k8s.io/v1/endpointslices`)).json();
    assert.deepEqual(raw, direct);
    const typed = JSON.parse(await run("get", "endpointslices", "-A", "-o", "json"));
    assert.equal(typed.items[0].metadata.labels["kubernetes.io/service-name"], "web");
    assert.equal((await run("get", "nodes", "-o", "name")).trim(), "node/node-1");
    // Writes as kubectl makes them: POST, PUT, DELETE.
    const dir = await Deno.makeTempDir();
    try {
      const svc = (port: number) =>
        JSON.stringify({
          apiVersion: "v1",
          kind: "Service",
          ...rawService("default", "api", { port }),
        });
      await Deno.writeTextFile(`${dir}/a.json`, svc(80));
      await Deno.writeTextFile(`${dir}/b.json`, svc(8080));
      await run("create", "--validate=false", "-f", `${dir}/a.json`);
      await run("replace", "--validate=false", "-f", `${dir}/b.json`);
      assert.equal((s.store.get("services", "default", "api") as Json).spec.ports[0].port, 8080);
      await run("delete", "-f", `${dir}/b.json`);
      assert.equal((await run("get", "svc", "-A", "-o", "name")).trim(), "service/web");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await s.close();
  }
});

Deno.test("the selector parser handles the forms the API server accepts and refuses the rest", () => {
  const m = parseLabelSelector("!a/b,env in (prod, staging),tier!=db,app=web,has");
  assert.equal(m({ env: "prod", app: "web", has: "" }), true);
  assert.equal(m({ env: "prod", app: "web", has: "", "a/b": "x" }), false);
  assert.equal(m({ env: "dev", app: "web", has: "" }), false);
  assert.equal(m({ env: "prod", app: "web", has: "", tier: "db" }), false);
  assert.equal(parseLabelSelector("x notin (1,2)")({ x: "3" }), true);
  assert.equal(parseLabelSelector("")({}), true);
  assert.throws(() => parseLabelSelector("a b c"), SelectorError);
  assert.equal(parseFieldSelector("metadata.name=n1")({ "metadata.name": "n1" }), true);
  assert.equal(parseFieldSelector("metadata.name!=n1")({ "metadata.name": "n1" }), false);
  assert.throws(() => parseFieldSelector("spec.nodeName=x"), SelectorError);
});

Deno.test("apiserver_main.ts serves seeded objects and writes a kubeconfig that reaches it over mTLS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/objects.json`,
      JSON.stringify([{ kind: "Node", ...rawNode("node-1") }]),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./apiserver_main.ts", import.meta.url).pathname,
        "--kubeconfig",
        `${dir}/kubeconfig`,
        "--tls",
        "--objects",
        `${dir}/objects.json`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.match(first.value ?? "", /^ready https:\/\/127\.0\.0\.1:\d+\n$/);
    const c = new KubeClient({
      connection: await resolveConnection({ kubeconfig: `${dir}/kubeconfig` }),
    });
    assert.deepEqual((await c.list(NODES)).items.map((n) => n.metadata.name), ["node-1"]);
    c.close();
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await reader.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ApiStore.importState() restarts on the saved objects and resourceVersions, and 410s older watches", async () => {
  const first = await TestApiServer.start();
  const a = first.apply("services", rawService("default", "a"));
  first.apply("nodes", rawNode("node-1"));
  const saved = JSON.parse(JSON.stringify(first.store.exportState()));
  await first.close();
  const s = await TestApiServer.start();
  try {
    s.store.importState(saved);
    const list = await getJson(`${s.url}/api/v1/services`);
    assert.equal(list.body.metadata.resourceVersion, String(first.store.resourceVersion));
    assert.deepEqual(list.body.items[0].metadata, a.metadata, "same uid and resourceVersion");
    const old = await readWatch(
      `${s.url}/api/v1/services?watch=1&resourceVersion=${a.metadata.resourceVersion}`,
    );
    assert.equal(old[0]!.type, "ERROR");
    assert.equal(old[0]!.object.code, 410, "the event log starts empty at the saved version");
    const current = `${s.url}/api/v1/services?watch=1&resourceVersion=${s.store.resourceVersion}`;
    const live = readWatch(current, 1);
    await new Promise((r) => setTimeout(r, 50));
    const b = s.apply("services", rawService("default", "b"));
    assert.equal(Number(b.metadata.resourceVersion), first.store.resourceVersion + 1);
    assert.equal(b.metadata.uid, "uid-3", "uids go on from the saved counter");
    assert.equal((await live)[0]!.object.metadata.name, "b");
  } finally {
    await s.close();
  }
});
