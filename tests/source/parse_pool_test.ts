import assert from "node:assert/strict";
import { LARGE_FILE_BYTES, ParsePool } from "../../src/source/_parse_pool.ts";
import { signature } from "../../src/source/_manifest_files.ts";

const enc = new TextEncoder();

function service(name: string, port = 80): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n  - port: ${port}\n`;
}

/** A valid file that takes a while to parse: a long list of labels. */
function slowFile(entries: number): string {
  const labels = Array.from({ length: entries }, (_, i) => `    l${i}: "${"v".repeat(40)}"`);
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  labels:\n${
    labels.join("\n")
  }\n`;
}

/** Writes files into a new directory; returns a job maker for them. */
async function files(contents: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-pool-" });
  for (const [name, text] of Object.entries(contents)) {
    await Deno.writeFile(`${dir}/${name}`, enc.encode(text));
  }
  const job = (name: string) => {
    const file = `${dir}/${name}`;
    const info = Deno.statSync(file);
    return { file, sig: signature(info), size: info.size };
  };
  return { dir, job, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const options = { nodeName: "n", maxFileBytes: 32 << 20 };

Deno.test("ParsePool reads and parses files in a worker: objects, messages and failures per file", async () => {
  await using f = await files({
    "a.yaml": service("a"),
    "b.yaml": service("b", 70000),
    "c.yaml": "a: [",
    "d.yaml": "x".repeat(2000),
  });
  const pool = new ParsePool({ ...options, maxFileBytes: 1000 });
  try {
    const [ok, bad, broken, large, gone] = await Promise.all([
      pool.parse(f.job("a.yaml")),
      pool.parse(f.job("b.yaml")),
      pool.parse(f.job("c.yaml")),
      pool.parse(f.job("d.yaml")),
      pool.parse({ file: `${f.dir}/nothing.yaml`, sig: "1:1:1:1", size: 1 }),
    ]);
    assert.ok(ok?.kind === "loaded");
    assert.deepEqual(ok.load.objects.map(([id]) => id), ["Service/default/a"]);
    assert.equal(ok.load.objects[0]![1].kind, "Service");
    assert.ok(bad?.kind === "loaded");
    assert.equal(bad.load.invalid, 1);
    assert.deepEqual(bad.load.invalidIds, ["Service/default/b"]);
    assert.match(bad.load.messages[0]!.msg, /spec\.ports\[0\]\.port: 70000 out of range/);
    assert.ok(broken?.kind === "failed");
    assert.match(broken.error, /^cannot parse .*\/c\.yaml: /);
    assert.ok(large?.kind === "failed");
    assert.match(large.error, /d\.yaml is 0 MiB, over the bound of 0 MiB per file/);
    assert.deepEqual(gone, { kind: "removed" });
    assert.equal(pool.workers, 1);
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool sends a file of many objects in parts and puts them back in order", async () => {
  const items = Array.from(
    { length: 1234 },
    (_, i) =>
      `- {apiVersion: v1, kind: Service, metadata: {name: s${i}}, spec: {ports: [{port: 80}]}}`,
  );
  await using f = await files({ "list.yaml": `kind: List\nitems:\n${items.join("\n")}\n` });
  const pool = new ParsePool(options);
  try {
    const r = await pool.parse(f.job("list.yaml"));
    assert.ok(r.kind === "loaded");
    assert.deepEqual(
      r.load.objects.map(([id]) => id),
      items.map((_, i) => `Service/default/s${i}`),
    );
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool fails a file over its time bound and parses the files queued behind it", async () => {
  await using f = await files({
    "a.yaml": service("a"),
    "slow.yaml": slowFile(20_000),
    "c.yaml": service("c"),
  });
  const pool = new ParsePool({ ...options, timeLimitMs: (bytes) => bytes > 100_000 ? 20 : 60_000 });
  try {
    const results = await Promise.all(
      ["a.yaml", "slow.yaml", "c.yaml"].map((n) => pool.parse(f.job(n))),
    );
    assert.deepEqual(results.map((r) => r.kind), ["loaded", "failed", "loaded"]);
    assert.deepEqual(results[1], {
      kind: "failed",
      error: `cannot parse ${f.dir}/slow.yaml: parsing took longer than 20 ms`,
    });
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool parses large files in a lane of their own: small ones do not wait for them", async () => {
  await using f = await files({ "big.yaml": slowFile(150_000), "small.yaml": service("s") });
  assert.ok(f.job("big.yaml").size > LARGE_FILE_BYTES);
  const pool = new ParsePool(options);
  try {
    const order: string[] = [];
    const track = (name: string) =>
      pool.parse(f.job(name)).then((r) => {
        order.push(name);
        return r;
      });
    const big = track("big.yaml");
    const small = await track("small.yaml");
    assert.equal(small.kind, "loaded");
    assert.deepEqual(order, ["small.yaml"]);
    assert.equal(pool.workers, 2);
    assert.equal((await big).kind, "loaded");
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool.close() answers the files not yet parsed", async () => {
  await using f = await files({ "big.yaml": slowFile(50_000) });
  const pool = new ParsePool(options);
  const pending = pool.parse(f.job("big.yaml"));
  pool.close();
  const r = await pending;
  assert.ok(r.kind === "failed");
  assert.match(r.error, /stopped/);
});
