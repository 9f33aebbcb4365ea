import assert from "node:assert/strict";
import { ParsePool } from "../../src/source/_parse_pool.ts";

const enc = new TextEncoder();

function service(name: string, port = 80): Uint8Array {
  return enc.encode(
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n  - port: ${port}\n`,
  );
}

/** A valid file that takes a while to parse: a long list of labels. */
function slowFile(entries: number): Uint8Array {
  const labels = Array.from({ length: entries }, (_, i) => `    l${i}: "${"v".repeat(40)}"`);
  return enc.encode(
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  labels:\n${labels.join("\n")}\n`,
  );
}

Deno.test("ParsePool parses files in a worker: objects, messages and failures per file", async () => {
  const pool = new ParsePool({ nodeName: "n" });
  try {
    const [ok, bad, broken] = await Promise.all([
      pool.parse({ file: "/m/a.yaml", bytes: service("a") }),
      pool.parse({ file: "/m/b.yaml", bytes: service("b", 70000) }),
      pool.parse({ file: "/m/c.yaml", bytes: enc.encode("a: [") }),
    ]);
    assert.ok(ok?.ok);
    assert.deepEqual(ok.load.objects.map(([id]) => id), ["Service/default/a"]);
    assert.equal(ok.load.objects[0]![1].kind, "Service");
    assert.ok(bad?.ok);
    assert.equal(bad.load.invalid, 1);
    assert.deepEqual(bad.load.invalidIds, ["Service/default/b"]);
    assert.match(bad.load.messages[0]!.msg, /spec\.ports\[0\]\.port: 70000 out of range/);
    assert.ok(broken && !broken.ok);
    assert.match(broken.error, /^cannot parse \/m\/c\.yaml: /);
    assert.equal(pool.workers, 1);
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool sends a file of many objects in parts and puts them back in order", async () => {
  const pool = new ParsePool({ nodeName: "n" });
  try {
    const items = Array.from(
      { length: 1234 },
      (_, i) =>
        `- {apiVersion: v1, kind: Service, metadata: {name: s${i}}, spec: {ports: [{port: 80}]}}`,
    );
    const r = await pool.parse({
      file: "/m/list.yaml",
      bytes: enc.encode(`kind: List\nitems:\n${items.join("\n")}\n`),
    });
    assert.ok(r.ok);
    assert.deepEqual(
      r.load.objects.map(([id]) => id),
      items.map((_, i) => `Service/default/s${i}`),
    );
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool fails a file over its time bound and parses the files queued behind it", async () => {
  const pool = new ParsePool({
    nodeName: "n",
    timeLimitMs: (bytes) => bytes > 100_000 ? 30 : 60_000,
  });
  try {
    const big = slowFile(60_000);
    const results = await Promise.all([
      pool.parse({ file: "/m/a.yaml", bytes: service("a") }),
      pool.parse({ file: "/m/big.yaml", bytes: big }),
      pool.parse({ file: "/m/c.yaml", bytes: service("c") }),
    ]);
    assert.deepEqual(results.map((r) => r.ok), [true, false, true]);
    const failed = results[1]!;
    assert.ok(!failed.ok);
    assert.equal(failed.error, "cannot parse /m/big.yaml: parsing took longer than 30 ms");
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool starts a second worker beside one that is slow on a file", async () => {
  const pool = new ParsePool({ nodeName: "n" });
  try {
    const order: string[] = [];
    const track = (file: string, bytes: Uint8Array) =>
      pool.parse({ file, bytes }).then((r) => {
        order.push(file);
        return r;
      });
    const big = track("big", slowFile(300_000));
    await new Promise((r) => setTimeout(r, 700)); // the first worker is slow by now
    const small = await track("small", service("s"));
    assert.ok(small.ok);
    assert.deepEqual(order, ["small"]);
    assert.equal(pool.workers, 2);
    assert.ok((await big).ok);
  } finally {
    pool.close();
  }
});

Deno.test("ParsePool.close() answers the files not yet parsed", async () => {
  const pool = new ParsePool({ nodeName: "n" });
  const pending = pool.parse({ file: "/m/big.yaml", bytes: slowFile(100_000) });
  pool.close();
  const r = await pending;
  assert.ok(!r.ok);
  assert.match(r.error, /stopped/);
});
