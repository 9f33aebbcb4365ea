import assert from "node:assert/strict";
import { KipvsError } from "../../../src/errors.ts";
import type { ApiConnection } from "../../../src/source/kube/connection.ts";
import { loadKubeconfig } from "../../../src/source/kube/kubeconfig.ts";

/** A file system in a map; reading anything else fails like Deno.readTextFile. */
function files(entries: Record<string, string>) {
  return (path: string): Promise<string> =>
    path in entries
      ? Promise.resolve(entries[path]!)
      : Promise.reject(new Deno.errors.NotFound(`${path}`));
}

const b64 = (s: string) => btoa(s);

const TWO_CONTEXTS = `
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: pki/ca.crt
- name: lab
  cluster:
    server: lab.example:8443
    insecure-skip-tls-verify: true
users:
- name: proxy
  user:
    client-certificate: pki/proxy.crt
    client-key: /abs/proxy.key
- name: bot
  user:
    token: s3cret
contexts:
- name: prod
  context: { cluster: prod, user: proxy, namespace: kube-system }
- name: lab
  context: { cluster: lab, user: bot }
`;

function fs() {
  return files({
    "/etc/kipvs/kubeconfig": TWO_CONTEXTS,
    "/etc/kipvs/pki/ca.crt": "CA PEM",
    "/etc/kipvs/pki/proxy.crt": "CERT PEM",
    "/abs/proxy.key": "KEY PEM",
  });
}

async function load(o: Partial<Parameters<typeof loadKubeconfig>[0]> = {}): Promise<ApiConnection> {
  return await loadKubeconfig({ paths: ["/etc/kipvs/kubeconfig"], readTextFile: fs(), ...o });
}

async function failure(p: Promise<unknown>): Promise<KipvsError> {
  const err = await p.then(() => assert.fail("no error"), (e) => e);
  assert.ok(err instanceof KipvsError, String(err));
  return err;
}

Deno.test("loadKubeconfig() uses the current context: server, CA and client certificate files relative to the file", async () => {
  const c = await load();
  assert.equal(c.server, "https://10.0.0.1:6443");
  assert.deepEqual(c.caCerts, ["CA PEM"]);
  assert.equal(c.clientCert, "CERT PEM");
  assert.equal(c.clientKey, "KEY PEM");
  assert.equal(c.insecureSkipTLSVerify, false);
  assert.deepEqual(c.credentials, { kind: "none" });
  assert.equal(c.origin, "kubeconfig /etc/kipvs/kubeconfig context prod");
});

Deno.test("loadKubeconfig() takes a named context, a bare host:port as https, a token and insecure-skip-tls-verify", async () => {
  const c = await load({ context: "lab" });
  assert.equal(c.server, "https://lab.example:8443");
  assert.equal(c.insecureSkipTLSVerify, true);
  assert.deepEqual(c.caCerts, []);
  assert.equal(c.credentials.kind, "bearer");
  assert.equal(c.credentials.kind === "bearer" && await c.credentials.token.token(), "s3cret");
});

Deno.test("loadKubeconfig() lets --master replace the cluster's server", async () => {
  const c = await load({ master: "https://192.168.1.10:6443/" });
  assert.equal(c.server, "https://192.168.1.10:6443");
  assert.deepEqual(c.caCerts, ["CA PEM"], "the rest of the cluster entry still applies");
});

Deno.test("loadKubeconfig() decodes inline base64 data for CA, certificate and key", async () => {
  const text = `
current-context: c
clusters: [{ name: k, cluster: { server: "https://k:6443", certificate-authority-data: ${
    b64("CA")
  } } }]
users: [{ name: u, user: { client-certificate-data: ${b64("CERT")}, client-key-data: ${
    b64("KEY")
  } } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`;
  const c = await loadKubeconfig({ paths: ["/k"], readTextFile: files({ "/k": text }) });
  assert.deepEqual([c.caCerts, c.clientCert, c.clientKey], [["CA"], "CERT", "KEY"]);
});

Deno.test("loadKubeconfig() reads a tokenFile relative to the kubeconfig and re-reads it after its period", async () => {
  const store: Record<string, string> = {
    "/k/config": `
current-context: c
clusters: [{ name: k, cluster: { server: "https://k:6443" } }]
users: [{ name: u, user: { tokenFile: tok } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`,
    "/k/tok": "one\n",
  };
  const c = await loadKubeconfig({
    paths: ["/k/config"],
    readTextFile: files(store),
    tokenPeriodMs: 0,
  });
  assert.ok(c.credentials.kind === "bearer");
  assert.equal(await c.credentials.token.token(), "one");
  store["/k/tok"] = "two";
  assert.equal(await c.credentials.token.token(), "two");
  assert.equal(c.credentials.token.describe, "/k/tok");
});

Deno.test("loadKubeconfig() turns username and password into basic credentials", async () => {
  const text = `
current-context: c
clusters: [{ name: k, cluster: { server: "http://k:8080" } }]
users: [{ name: u, user: { username: admin, password: pw } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`;
  const c = await loadKubeconfig({ paths: ["/k"], readTextFile: files({ "/k": text }) });
  assert.deepEqual(c.credentials, { kind: "basic", username: "admin", password: "pw" });
});

Deno.test("loadKubeconfig() merges files: the first definition of a name and the first current-context win", async () => {
  const a = `
clusters: [{ name: k, cluster: { server: "https://first:6443" } }]
contexts: [{ name: c, context: { cluster: k } }]
`;
  const b = `
current-context: c
clusters: [{ name: k, cluster: { server: "https://second:6443" } }]
contexts: [{ name: other, context: { cluster: k } }]
`;
  const c = await loadKubeconfig({
    paths: ["/a", "/b"],
    readTextFile: files({ "/a": a, "/b": b }),
  });
  assert.equal(c.server, "https://first:6443");
  assert.equal(c.origin, "kubeconfig /a:/b context c");
});

Deno.test("loadKubeconfig() errors name the file, the entry and the value that was wrong", async (t) => {
  const cases: [string, string, RegExp, string?][] = [
    [
      "no current context",
      "clusters: []",
      /kubeconfig \/k has no current-context and no context was named/,
    ],
    ["an unknown context", "current-context: nope", /kubeconfig \/k: no context "nope"/],
    [
      "a context naming an undefined cluster",
      "current-context: c\ncontexts: [{ name: c, context: { cluster: gone } }]",
      /context "c" names cluster "gone", which is not defined/,
    ],
    [
      "a context naming an undefined user",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k' } }]\n" +
      "contexts: [{ name: c, context: { cluster: k, user: ghost } }]",
      /context "c" names user "ghost", which is not defined/,
    ],
    [
      "an exec credential plugin",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k' } }]\n" +
      "users: [{ name: eks, user: { exec: { command: aws } } }]\n" +
      "contexts: [{ name: c, context: { cluster: k, user: eks } }]",
      /user "eks" uses an exec credential plugin, which kipvs does not run/,
    ],
    [
      "a CA together with insecure-skip-tls-verify",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k', insecure-skip-tls-verify: true, " +
      "certificate-authority-data: " + b64("CA") +
      " } }]\ncontexts: [{ name: c, context: { cluster: k } }]",
      /cluster "k" sets both a certificate authority and insecure-skip-tls-verify/,
    ],
    [
      "a certificate without its key",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k' } }]\n" +
      "users: [{ name: u, user: { client-certificate-data: " + b64("C") + " } }]\n" +
      "contexts: [{ name: c, context: { cluster: k, user: u } }]",
      /user "u" has a client certificate but no client-key/,
    ],
    [
      "data that is not base64",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k', certificate-authority-data: '%%%' } }]\n" +
      "contexts: [{ name: c, context: { cluster: k } }]",
      /clusters\[0\].cluster.certificate-authority-data is not base64/,
    ],
    [
      "a server that is not a URL",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'ftp://k' } }]\ncontexts: [{ name: c, context: { cluster: k } }]",
      /clusters\[0\].cluster.server "ftp:\/\/k" must be http or https/,
    ],
    [
      "a missing server",
      "current-context: c\nclusters: [{ name: k, cluster: {} }]\ncontexts: [{ name: c, context: { cluster: k } }]",
      /clusters\[0\].cluster.server is missing/,
    ],
    [
      "an unreadable CA file",
      "current-context: c\nclusters: [{ name: k, cluster: { server: 'https://k', certificate-authority: ca.pem } }]\n" +
      "contexts: [{ name: c, context: { cluster: k } }]",
      /kubeconfig \/k: cannot read clusters\[0\].cluster.certificate-authority \/ca.pem/,
      "io",
    ],
    ["text that is not YAML", "a: [b", /kubeconfig \/k is not YAML/],
    ["a list that is not a list", "clusters: 3", /kubeconfig \/k: clusters is not a list/],
  ];
  for (const [name, text, message, code] of cases) {
    await t.step(name, async () => {
      const err = await failure(
        loadKubeconfig({ paths: ["/k"], readTextFile: files({ "/k": text }) }),
      );
      assert.equal(err.code, code ?? "invalid-config");
      assert.match(err.message, message);
    });
  }
  await t.step("a missing kubeconfig file", async () => {
    const err = await failure(loadKubeconfig({ paths: ["/nope"], readTextFile: files({}) }));
    assert.equal(err.code, "io");
    assert.match(err.message, /cannot read kubeconfig \/nope/);
  });
});
