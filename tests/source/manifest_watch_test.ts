import assert from "node:assert/strict";
import { ManifestSource } from "../../src/source/manifest.ts";
import { statManifests } from "../../src/source/_manifest_files.ts";
import type { SourceChange } from "../../src/source/source.ts";
import { Logger } from "../../src/log.ts";

function svcYaml(name: string, ip: string, port = 80): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  clusterIP: ${ip}
  ports:
  - name: http
    port: ${port}
`;
}

function sliceYaml(name: string, service: string, ips: string[]): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels:
    kubernetes.io/service-name: ${service}
addressType: IPv4
endpoints:
${ips.map((ip) => `- addresses: [${ip}]`).join("\n")}
ports:
- name: http
  port: 8080
`;
}

function nodeYaml(name: string, ip: string): string {
  return `apiVersion: v1
kind: Node
metadata:
  name: ${name}
status:
  addresses:
  - type: InternalIP
    address: ${ip}
`;
}

interface Ctx {
  dir: string;
  src: ManifestSource;
  lines: string[];
  changes: SourceChange[];
  /** The next change (fails after `ms`). */
  next(ms?: number): Promise<SourceChange>;
  /** Waits `ms` and asserts that no change came. */
  quiet(ms?: number): Promise<void>;
  write(file: string, text: string): Promise<void>;
}

async function withManifests(
  files: Record<string, string>,
  fn: (ctx: Ctx) => Promise<void>,
  options: {
    file?: string;
    retryMs?: number;
    rescanMs?: number;
    watch?: boolean;
    debounceMs?: number;
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-manifest-" });
  const write = async (file: string, text: string) => {
    const path = `${dir}/${file}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  };
  for (const [f, t] of Object.entries(files)) await write(f, t);
  const lines: string[] = [];
  const src = new ManifestSource({
    path: options.file ? `${dir}/${options.file}` : dir,
    nodeName: "node-1",
    logger: new Logger({ level: "debug", sink: (l) => lines.push(l) }),
    debounceMs: options.debounceMs ?? 50,
    retryMs: options.retryMs ?? 100,
    rescanMs: options.rescanMs,
    watch: options.watch,
  });
  const changes: SourceChange[] = [];
  let waiter: ((c: SourceChange) => void) | undefined;
  src.onChange((c) => {
    changes.push(c);
    waiter?.(c);
  });
  let seen = 0;
  const next = (ms = 5000) => {
    if (changes.length > seen) return Promise.resolve(changes[seen++]!);
    return new Promise<SourceChange>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no change within ${ms} ms\n${lines.join("\n")}`)),
        ms,
      );
      waiter = (c) => {
        clearTimeout(t);
        waiter = undefined;
        seen++;
        resolve(c);
      };
    });
  };
  const quiet = async (ms = 400) => {
    await new Promise((r) => setTimeout(r, ms));
    assert.equal(changes.length, seen, `unexpected change: ${JSON.stringify(changes.at(-1))}`);
  };
  await src.start();
  try {
    await fn({ dir, src, lines, changes, next, quiet, write });
  } finally {
    await src.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const keys = (c: SourceChange) => [...c.services].sort();

Deno.test("ManifestSource notifies exactly the services whose Service or slices changed", async () => {
  await withManifests({
    "a.yaml": svcYaml("a", "10.96.0.1") + "---\n" + sliceYaml("a-1", "a", ["10.244.0.1"]),
    "b.yaml": svcYaml("b", "10.96.0.2") + "---\n" + sliceYaml("b-1", "b", ["10.244.0.2"]),
  }, async ({ src, next, write, quiet }) => {
    await quiet(150); // start() does not notify
    await write(
      "a.yaml",
      svcYaml("a", "10.96.0.1") + "---\n" + sliceYaml("a-1", "a", ["10.244.0.9"]),
    );
    let c = await next();
    assert.deepEqual(keys(c), ["default/a"]);
    assert.deepEqual([c.serviceChanges, c.endpointChanges, c.node, c.all], [0, 1, false, false]);
    assert.ok(Date.now() - c.seenAt < 5000);
    assert.deepEqual(
      src.snapshot().endpointSlices.get("default/a-1")?.endpoints[0]?.addresses,
      ["10.244.0.9"],
    );
    await write(
      "b.yaml",
      svcYaml("b", "10.96.0.2", 81) + "---\n" + sliceYaml("b-1", "b", ["10.244.0.2"]),
    );
    c = await next();
    assert.deepEqual(keys(c), ["default/b"]);
    assert.deepEqual([c.serviceChanges, c.endpointChanges], [1, 0]);
    // The same content written again changes nothing.
    await write(
      "b.yaml",
      svcYaml("b", "10.96.0.2", 81) + "---\n" + sliceYaml("b-1", "b", ["10.244.0.2"]),
    );
    await quiet();
  });
});

Deno.test("ManifestSource notifies both services when a slice moves between them, and re-indexes it", async () => {
  await withManifests({
    "svc.yaml": svcYaml("a", "10.96.0.1") + "---\n" + svcYaml("b", "10.96.0.2"),
    "slice.yaml": sliceYaml("s-1", "a", ["10.244.0.1"]),
  }, async ({ src, next, write }) => {
    const index = () => src.snapshot().endpointSlicesByService;
    assert.deepEqual([...index()?.get("default/a")?.keys() ?? []], ["default/s-1"]);
    await write("slice.yaml", sliceYaml("s-1", "b", ["10.244.0.1"]));
    const c = await next();
    assert.deepEqual(keys(c), ["default/a", "default/b"]);
    assert.equal(c.endpointChanges, 1);
    assert.equal(index()?.has("default/a"), false, "the slice left a's index");
    assert.deepEqual([...index()?.get("default/b")?.keys() ?? []], ["default/s-1"]);
  });
});

Deno.test("ManifestSource keeps a half-written file's last good objects until it is complete", async () => {
  // The service last, its clusterIP last: a cut inside that value leaves every other object whole.
  const svc = `apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  ports:
  - port: 80
  clusterIP: 10.96.0.1
`;
  const full = sliceYaml("a-1", "a", ["10.244.0.1"]) + "---\n" + svc;
  await withManifests({ "a.yaml": full }, async ({ dir, src, next, write, quiet, lines }) => {
    // Cut inside a flow sequence: a YAML syntax error.
    await write("a.yaml", full.slice(0, full.indexOf("10.244.0.1") + 4));
    await quiet();
    assert.equal(src.snapshot().services.size, 1);
    assert.equal(src.snapshot().endpointSlices.size, 1);
    assert.ok(
      lines.some((l) =>
        / WARN .*cannot parse .*\/a\.yaml: .*; keeping its last good objects/.test(l) &&
        l.includes(dir)
      ),
      lines.join("\n"),
    );
    assert.match(src.health().error ?? "", /a\.yaml/);
    // Cut inside the last value: valid YAML, an invalid object; its last good version stays.
    await write("a.yaml", full.slice(0, full.lastIndexOf("10.96.0.1") + 7));
    await quiet();
    assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.1");
    assert.ok(
      lines.some((l) =>
        /invalid Service default\/a .*spec.clusterIP: "10.96.0" not a valid IP address/.test(l)
      ),
    );
    assert.ok(lines.some((l) => /keeping the last good version of Service default\/a/.test(l)));
    // Complete again, with a change.
    await write("a.yaml", full.replace("10.244.0.1", "10.244.0.2"));
    const c = await next();
    assert.deepEqual(keys(c), ["default/a"]);
    assert.equal(src.health().error, undefined);
  });
});

Deno.test("ManifestSource removes a deleted file's objects", async () => {
  await withManifests({
    "a.yaml": svcYaml("a", "10.96.0.1"),
    "b.yaml": svcYaml("b", "10.96.0.2") + "---\n" + sliceYaml("b-1", "b", ["10.244.0.2"]),
  }, async ({ dir, src, next }) => {
    await Deno.remove(`${dir}/b.yaml`);
    const c = await next();
    assert.deepEqual(keys(c), ["default/b"]);
    assert.deepEqual([c.serviceChanges, c.endpointChanges], [1, 1]);
    assert.deepEqual([...src.snapshot().services.keys()], ["default/a"]);
    assert.equal(src.snapshot().endpointSlices.size, 0);
  });
});

Deno.test("ManifestSource coalesces a burst of writes into one change", async () => {
  await withManifests(
    { "a.yaml": svcYaml("a", "10.96.0.1") },
    async ({ src, next, write, quiet }) => {
      for (let i = 2; i <= 8; i++) {
        await write("a.yaml", svcYaml("a", `10.96.0.${i}`));
        await new Promise((r) => setTimeout(r, 10));
      }
      const c = await next();
      assert.deepEqual(keys(c), ["default/a"]);
      await quiet();
      assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.8");
    },
    // Wide enough that a loaded machine (or a User-Mode Linux guest, where this test also runs)
    // cannot stretch the 10 ms gaps of the burst past it.
    { debounceMs: 400 },
  );
});

Deno.test("ManifestSource flags changes to this node's Node only", async () => {
  await withManifests(
    { "a.yaml": svcYaml("a", "10.96.0.1") },
    async ({ src, next, write, quiet }) => {
      await write("nodes.yaml", nodeYaml("node-2", "192.168.0.2"));
      await quiet();
      await write(
        "nodes.yaml",
        nodeYaml("node-2", "192.168.0.2") + "---\n" + nodeYaml("node-1", "192.168.0.1"),
      );
      const c = await next();
      assert.deepEqual([c.node, c.services.size, c.serviceChanges, c.endpointChanges], [
        true,
        0,
        0,
        0,
      ]);
      assert.equal(src.snapshot().node?.status.addresses[0]?.address, "192.168.0.1");
    },
  );
});

Deno.test("ManifestSource picks the last file in path order for duplicates, and warns", async () => {
  await withManifests({
    "a.yaml": svcYaml("dup", "10.96.0.1"),
    "z.yaml": svcYaml("dup", "10.96.0.26"),
  }, async ({ dir, src, lines, next }) => {
    assert.equal(src.snapshot().services.get("default/dup")?.spec.clusterIP, "10.96.0.26");
    assert.ok(
      lines.some((l) =>
        l.includes(`Service default/dup is defined in 2 files; using ${dir}/z.yaml`)
      ),
    );
    await Deno.remove(`${dir}/z.yaml`);
    const c = await next();
    assert.deepEqual(keys(c), ["default/dup"]);
    assert.equal(src.snapshot().services.get("default/dup")?.spec.clusterIP, "10.96.0.1");
  });
});

Deno.test("ManifestSource picks up files in new subdirectories", async () => {
  await withManifests({ "a.yaml": svcYaml("a", "10.96.0.1") }, async ({ dir, next, write }) => {
    await Deno.mkdir(`${dir}/team/one`, { recursive: true });
    await new Promise((r) => setTimeout(r, 100)); // let the watcher add the new directories
    await write(
      "team/one/b.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "b", namespace: "team" },
        spec: { clusterIP: "10.96.0.2", ports: [{ port: 80 }] },
      }),
    );
    const c = await next();
    assert.deepEqual(keys(c), ["team/b"]);
  });
});

Deno.test("ManifestSource watching one file sees an editor's write-and-rename", async () => {
  await withManifests(
    { "only.yaml": svcYaml("a", "10.96.0.1") },
    async ({ dir, src, next, write }) => {
      await write(".only.yaml.swp", svcYaml("a", "10.96.0.7"));
      await Deno.rename(`${dir}/.only.yaml.swp`, `${dir}/only.yaml`);
      assert.deepEqual(keys(await next()), ["default/a"]);
      assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.7");
      await write(".only.yaml.swp", svcYaml("a", "10.96.0.8"));
      await Deno.rename(`${dir}/.only.yaml.swp`, `${dir}/only.yaml`);
      await next();
      assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.8");
    },
    { file: "only.yaml" },
  );
});

Deno.test("ManifestSource follows a ConfigMap volume's symlink swap and reads each file once", async () => {
  await withManifests({ "..2025_01/svc.yaml": svcYaml("a", "10.96.0.1") }, async (ctx) => {
    const { dir, src, next, write } = ctx;
    await Deno.symlink("..2025_01", `${dir}/..data`);
    await Deno.symlink("..data/svc.yaml", `${dir}/svc.yaml`);
    assert.deepEqual(keys(await next()), ["default/a"]);
    // kubelet's atomic update: a new timestamped folder, then ..data swapped by rename.
    await write("..2025_02/svc.yaml", svcYaml("a", "10.96.0.2"));
    await Deno.symlink("..2025_02", `${dir}/..data_tmp`);
    await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
    assert.deepEqual(keys(await next()), ["default/a"]);
    assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.2");
    assert.ok(!ctx.lines.some((l) => / WARN /.test(l)), ctx.lines.join("\n"));
  });
});

Deno.test("ManifestSource keeps its state while the directory is gone, and resumes", async () => {
  const root = await Deno.makeTempDir({ prefix: "kipvs-manifest-root-" });
  try {
    await withManifests({ "a.yaml": svcYaml("a", "10.96.0.1") }, async (ctx) => {
      const { dir, src, next, lines } = ctx;
      await Deno.rename(dir, `${root}/away`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(src.snapshot().services.size, 1);
      assert.match(src.health().error ?? "", /cannot read manifests at/);
      assert.ok(lines.some((l) => / WARN .*keeping the last good state/.test(l)));
      // The directory comes back whole (made aside, renamed into place): a retry between a
      // mkdir and the write would see it empty, which a loaded machine makes likely.
      await Deno.mkdir(`${root}/back`);
      await Deno.writeTextFile(`${root}/back/b.yaml`, svcYaml("b", "10.96.0.2"));
      await Deno.rename(`${root}/back`, dir);
      const c = await next();
      assert.deepEqual(keys(c), ["default/a", "default/b"]);
      assert.deepEqual([...src.snapshot().services.keys()], ["default/b"]);
      assert.equal(src.health().error, undefined);
      // Watching resumed on the new directory.
      await Deno.writeTextFile(`${dir}/c.yaml`, svcYaml("c", "10.96.0.3"));
      assert.deepEqual(keys(await next()), ["default/c"]);
    }, { retryMs: 100 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ManifestSource sees changes without file events through its periodic rescan", async () => {
  await withManifests(
    { "a.yaml": svcYaml("a", "10.96.0.1") },
    async ({ src, next, write, quiet }) => {
      await quiet(300); // a rescan that finds nothing notifies nothing
      await write("a.yaml", svcYaml("a", "10.96.0.2"));
      assert.deepEqual(keys(await next(3000)), ["default/a"]);
      assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.2");
      await write("b.yaml", svcYaml("b", "10.96.0.3"));
      assert.deepEqual(keys(await next(3000)), ["default/b"]);
    },
    { watch: false, rescanMs: 100 },
  );
});

Deno.test("ManifestSource reads a file renamed into place at once, without waiting out the debounce", async () => {
  const stage = await Deno.makeTempDir({ prefix: "kipvs-stage-" });
  try {
    await withManifests(
      { "a.yaml": svcYaml("a", "10.96.0.1") },
      async ({ dir, src, next }) => {
        await Deno.writeTextFile(`${stage}/a.yaml`, svcYaml("a", "10.96.0.2"));
        const t = Date.now();
        await Deno.rename(`${stage}/a.yaml`, `${dir}/a.yaml`);
        const c = await next();
        const ms = Date.now() - t;
        assert.deepEqual(keys(c), ["default/a"]);
        // Under the 3 s debounce with room for a loaded guest (this file also runs in one).
        assert.ok(ms < 2500, `a renamed file took ${ms} ms with a 3 s debounce`);
        assert.ok(c.seenAt >= t, "seenAt is the rename's event, not earlier");
        assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.2");
      },
      { debounceMs: 3000 },
    );
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
});

Deno.test("ManifestSource keeps a file's objects while an editor moves it aside and writes it anew", async () => {
  await withManifests(
    { "a.yaml": svcYaml("a", "10.96.0.1") },
    async ({ dir, src, next, quiet }) => {
      // Like vim's backup: the original is renamed away, then the new text is written.
      await Deno.rename(`${dir}/a.yaml`, `${dir}/a.yaml~`);
      await new Promise((r) => setTimeout(r, 150));
      await Deno.writeTextFile(`${dir}/a.yaml`, svcYaml("a", "10.96.0.3"));
      assert.deepEqual(keys(await next()), ["default/a"]);
      assert.equal(src.snapshot().services.get("default/a")?.spec.clusterIP, "10.96.0.3");
      await quiet(); // the service was never reported gone in between
    },
    { debounceMs: 400 },
  );
});

Deno.test("statManifests() looks only at the named files, and defers anything else to a full listing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-manifest-" });
  try {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/a.yaml`, "x");
    await Deno.writeTextFile(`${dir}/b.yaml`, "y");
    await Deno.writeTextFile(`${dir}/sub/c.json`, "z");
    const r = statManifests(dir, [`${dir}/a.yaml`, `${dir}/sub/c.json`, `${dir}/gone.yaml`]);
    assert.deepEqual([...r?.files.keys() ?? []], [`${dir}/a.yaml`, `${dir}/sub/c.json`]);
    assert.deepEqual(r?.gone, [`${dir}/gone.yaml`]);
    for (
      const path of [`${dir}/sub`, `${dir}/..data/a.yaml`, `${dir}/a.txt`, "/elsewhere/a.yaml"]
    ) {
      assert.equal(statManifests(dir, [`${dir}/a.yaml`, path]), undefined, path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ManifestSource rescans less often while file events keep up, and at its pace without them", async () => {
  const waits = (lines: string[]) =>
    lines.filter((l) => / rescanned /.test(l)).map((l) => Number(/nextMs=(\d+)/.exec(l)?.[1]));
  await withManifests({ "a.yaml": svcYaml("a", "10.96.0.1") }, async ({ lines, next, write }) => {
    await write("a.yaml", svcYaml("a", "10.96.0.2")); // an event: the watcher works here
    await next();
    // Rescans at 40, 80, 160 ms...; a small VM busy starting the parse workers takes longer (a
    // loaded User-Mode Linux guest took over 3 s for three): the loop ends at the third.
    for (let t = 0; t < 20_000 && waits(lines).length < 3; t += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const w = waits(lines);
    assert.ok(w.length >= 2, lines.join("\n"));
    assert.ok(w.every((x, i) => i === 0 || x > w[i - 1]!), `waits grow: ${w}`);
  }, { rescanMs: 40 });
  await withManifests({ "a.yaml": svcYaml("a", "10.96.0.1") }, async ({ lines }) => {
    // Three rescans take 120 ms; a small VM busy starting the parse workers takes longer.
    for (let t = 0; t < 20_000 && waits(lines).length < 3; t += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const w = waits(lines);
    assert.ok(w.length >= 3 && w.every((x) => x === 40), `without events: ${w}`);
  }, { rescanMs: 40, watch: false });
});
