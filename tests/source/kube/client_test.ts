import assert from "node:assert/strict";
import { describeError, KipvsError } from "../../../src/errors.ts";
import { apiStatusOf, parseRetryAfter } from "../../../src/source/kube/api_error.ts";
import { KubeClient, type WatchEvent } from "../../../src/source/kube/client.ts";
import type { ApiConnection } from "../../../src/source/kube/connection.ts";
import { ENDPOINT_SLICES, NODES, SERVICES } from "../../../src/source/kube/resources.ts";
import { FileToken, StaticToken } from "../../../src/source/kube/token.ts";
import type { HttpRequest, Transport } from "../../../src/source/kube/transport.ts";
import { TestApiServer } from "../../support/apiserver.ts";
import { testPki } from "../../support/certs.ts";
import { rawNode, rawService, rawSlice } from "../../support/kube_objects.ts";

function conn(server: string, extra: Partial<ApiConnection> = {}): ApiConnection {
  return {
    server,
    caCerts: [],
    insecureSkipTLSVerify: false,
    credentials: { kind: "none" },
    origin: "test",
    ...extra,
  };
}

async function withServer(
  opts: Parameters<typeof TestApiServer.start>[0],
  fn: (s: TestApiServer) => Promise<void>,
): Promise<void> {
  const s = await TestApiServer.start(opts);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function collect(events: AsyncGenerator<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const e of events) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

Deno.test("KubeClient.list() pages with limit/continue and fills in kind and apiVersion", async () => {
  await withServer({}, async (s) => {
    for (const n of ["a", "b", "c"]) {
      s.apply("endpointslices", rawSlice("default", n, { service: "web" }));
    }
    const c = new KubeClient({ connection: conn(s.url) });
    try {
      const p1 = await c.list(ENDPOINT_SLICES, {
        limit: 2,
        labelSelector: "kubernetes.io/service-name=web",
      });
      assert.equal(p1.items.length, 2);
      assert.equal(p1.items[0]!.kind, "EndpointSlice");
      assert.equal(p1.items[0]!.apiVersion, "discovery.k8s.io/v1");
      assert.ok(p1.continue);
      const p2 = await c.list(ENDPOINT_SLICES, { limit: 2, continue: p1.continue });
      assert.deepEqual(p2.items.map((i) => i.metadata.name), ["c"]);
      assert.equal(p2.continue, undefined);
      assert.equal(p2.resourceVersion, p1.resourceVersion);
      const req = s.requestsOf("list").at(0)!;
      assert.equal(req.path, "/apis/discovery.k8s.io/v1/endpointslices");
      assert.equal(req.query.labelSelector, "kubernetes.io/service-name=web");
    } finally {
      c.close();
    }
  });
});

Deno.test("KubeClient errors name the server, the request, the HTTP status and the reason", async () => {
  await withServer({ tokens: { t: "alice" }, authorize: () => false }, async (s) => {
    const c = new KubeClient({
      connection: conn(s.url, { credentials: { kind: "bearer", token: new StaticToken("t") } }),
    });
    try {
      const err = await c.list(NODES, { fieldSelector: "metadata.name=n1" }).then(
        () => assert.fail("no error"),
        (e) => e,
      );
      assert.ok(err instanceof KipvsError);
      assert.equal(err.code, "kube-api");
      assert.match(
        err.message,
        new RegExp(`^API server ${s.url}: GET /api/v1/nodes\\?fieldSelector=`),
      );
      assert.match(err.message, /: 403 Forbidden: nodes is forbidden: User "alice" cannot list/);
      assert.deepEqual(apiStatusOf(err), {
        status: 403,
        reason: "Forbidden",
        retryAfterSeconds: undefined,
      });
    } finally {
      c.close();
    }
  });
});

Deno.test("KubeClient reports 429's Retry-After and an unreachable server without a status", async () => {
  await withServer({}, async (s) => {
    s.inject({ kind: "status", code: 429, retryAfterSeconds: 7 });
    const c = new KubeClient({ connection: conn(s.url) });
    try {
      const err = await c.list(SERVICES).catch((e) => e);
      assert.deepEqual(apiStatusOf(err), {
        status: 429,
        reason: "TooManyRequests",
        retryAfterSeconds: 7,
      });
    } finally {
      c.close();
    }
  });
  // A port nobody listens on.
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const c = new KubeClient({ connection: conn(`http://127.0.0.1:${port}`) });
  const err = await c.list(SERVICES).catch((e) => e);
  c.close();
  assert.equal(err.code, "kube-api");
  assert.equal(apiStatusOf(err).status, undefined);
  assert.match(
    err.message,
    new RegExp(`API server http://127.0.0.1:${port}: GET /api/v1/services: failed: cannot reach`),
  );
  // The transport's reason once, without the URL again (it is what healthz shows).
  const text = describeError(err);
  assert.match(text, /cannot reach the server: .*Connection refused/);
  assert.equal(text.split(String(port)).length, 2, text);
});

Deno.test("parseRetryAfter reads delta seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("5"), 5);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:03 GMT", now), 3);
});

Deno.test("KubeClient re-reads a rotated token file when the server answers 401, and retries once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "old\n");
    await withServer(
      { tokens: { new: "system:serviceaccount:kube-system:kube-proxy" } },
      async (s) => {
        const token = new FileToken({ path: `${dir}/token`, periodMs: 3_600_000 });
        const c = new KubeClient({
          connection: conn(s.url, { credentials: { kind: "bearer", token } }),
        });
        try {
          await assert.rejects(c.list(SERVICES), (e: KipvsError) => apiStatusOf(e).status === 401);
          await Deno.writeTextFile(`${dir}/token`, "new\n"); // the kubelet rotated it
          const page = await c.list(SERVICES);
          assert.equal(page.items.length, 0);
          assert.deepEqual(s.requests.map((r) => r.status), [401, 401, 200]);
          assert.equal(s.requests.at(-1)!.user, "system:serviceaccount:kube-system:kube-proxy");
        } finally {
          c.close();
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient authenticates with a client certificate over TLS with the cluster's CA", async () => {
  const pki = await testPki();
  const tls = { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert };
  await withServer({ tls, clientCerts: true }, async (s) => {
    s.apply("nodes", rawNode("n1"));
    const good = new KubeClient({
      connection: conn(s.url, {
        caCerts: [pki.caCert],
        clientCert: pki.clientCert,
        clientKey: pki.clientKey,
      }),
    });
    const stranger = new KubeClient({
      connection: conn(s.url, {
        caCerts: [pki.caCert],
        clientCert: pki.strangerCert,
        clientKey: pki.strangerKey,
      }),
    });
    const noCa = new KubeClient({ connection: conn(s.url) });
    try {
      assert.equal((await good.list(NODES)).items.length, 1);
      assert.equal(s.requests.at(-1)!.user, "system:kube-proxy");
      await assert.rejects(stranger.list(NODES), (e: KipvsError) => apiStatusOf(e).status === 401);
      const err = await noCa.list(NODES).catch((e) => e);
      assert.equal(apiStatusOf(err).status, undefined, "the server's certificate is not trusted");
      assert.match(err.message, /cannot reach the server/);
    } finally {
      good.close();
      stranger.close();
      noCa.close();
    }
  });
});

Deno.test("KubeClient with insecure-skip-tls-verify reaches a server it cannot verify, still with its certificate", async () => {
  const pki = await testPki();
  const tls = { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert };
  await withServer({ tls, clientCerts: true }, async (s) => {
    s.apply("services", rawService("default", "web"));
    const c = new KubeClient({
      connection: conn(s.url, {
        insecureSkipTLSVerify: true,
        clientCert: pki.clientCert,
        clientKey: pki.clientKey,
      }),
    });
    try {
      assert.equal((await c.list(SERVICES)).items[0]!.metadata.name, "web");
      assert.equal(s.requests.at(-1)!.user, "system:kube-proxy");
      const rv = String(s.store.resourceVersion);
      const events = await c.watch(SERVICES, { resourceVersion: rv, timeoutSeconds: 5 });
      s.delete("services", "default", "web");
      const [ev] = await collect(events, 1);
      assert.equal(ev!.type, "DELETED");
      await events.return(undefined);
    } finally {
      c.close();
    }
  });
});

Deno.test("KubeClient.watch() parses events, bookmarks and ERROR events, and ends with the server's close", async () => {
  await withServer({ bookmarkIntervalMs: 50 }, async (s) => {
    const first = s.apply("services", rawService("default", "a"));
    const c = new KubeClient({ connection: conn(s.url) });
    try {
      const events = await c.watch(SERVICES, {
        resourceVersion: first.metadata.resourceVersion!,
        allowWatchBookmarks: true,
        timeoutSeconds: 1,
        labelSelector: "!service.kubernetes.io/headless",
      });
      s.apply("services", rawService("default", "a", { port: 99 }));
      const all: WatchEvent[] = [];
      for await (const e of events) all.push(e);
      assert.equal(all[0]!.type, "MODIFIED");
      assert.ok(all.slice(1).every((e) => e.type === "BOOKMARK"));
      assert.ok(all.length > 3, "bookmarks came until the server ended the watch");
      const w = s.requestsOf("watch")[0]!;
      assert.deepEqual(w.query, {
        watch: "1",
        labelSelector: "!service.kubernetes.io/headless",
        resourceVersion: first.metadata.resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: "1",
      });
      s.compact();
      const gone = await c.watch(SERVICES, { resourceVersion: first.metadata.resourceVersion! });
      assert.deepEqual((await collect(gone, 5)).map((e) => e.type === "ERROR" && e.code), [410]);
    } finally {
      c.close();
    }
  });
});

Deno.test("KubeClient.watch() throws a kube-api error when the connection drops mid-stream", async () => {
  await withServer({}, async (s) => {
    s.inject({ kind: "drop", afterEvents: 1, match: { verb: "watch" } });
    s.apply("services", rawService("default", "a"));
    const c = new KubeClient({ connection: conn(s.url) });
    try {
      const events = await c.watch(SERVICES, { resourceVersion: "0" });
      const got: string[] = [];
      const err = await (async () => {
        for await (const e of events) got.push(e.type);
      })().then(() => undefined, (e) => e);
      assert.deepEqual(got, ["ADDED"]);
      assert.ok(err instanceof KipvsError, "a dropped watch is an error, not a clean end");
      assert.match(err.message, /watch stream broke/);
    } finally {
      c.close();
    }
  });
});

Deno.test("KubeClient sends bearer and basic credentials and its user agent", async () => {
  const seen: HttpRequest[] = [];
  const transport: Transport = {
    send(req) {
      seen.push(req);
      return Promise.resolve(
        new Response(JSON.stringify({ metadata: { resourceVersion: "5" }, items: [] }), {
          status: 200,
        }),
      );
    },
    close() {},
  };
  const bearer = new KubeClient({
    connection: conn("https://k:6443", {
      credentials: { kind: "bearer", token: new StaticToken("abc") },
    }),
    transport,
  });
  const basic = new KubeClient({
    connection: conn("https://k:6443", {
      credentials: { kind: "basic", username: "u", password: "p" },
    }),
    transport,
  });
  await bearer.list(SERVICES);
  await basic.list(SERVICES);
  assert.equal(seen[0]!.headers["Authorization"], "Bearer abc");
  assert.equal(seen[1]!.headers["Authorization"], `Basic ${btoa("u:p")}`);
  assert.match(seen[0]!.headers["User-Agent"]!, /^kipvs\//);
  assert.equal(seen[0]!.url, "https://k:6443/api/v1/services");
});

Deno.test("KubeClient refuses a list whose body is not a list", async () => {
  const transport: Transport = {
    send: () => Promise.resolve(new Response("{}", { status: 200 })),
    close() {},
  };
  const c = new KubeClient({ connection: conn("https://k:6443"), transport });
  await assert.rejects(c.list(SERVICES), /no metadata.resourceVersion or items/);
});
