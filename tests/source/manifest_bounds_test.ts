import assert from "node:assert/strict";
import { checkBounds, mayHaveAnchors } from "../../src/source/_manifest_bounds.ts";
import { parseManifest } from "../../src/source/_manifest_parse.ts";
import { KipvsError } from "../../src/errors.ts";

/** A "billion laughs" of `levels` levels of nine aliases each, in `field`. */
export function aliasBomb(levels: number, field = "metadata:\n  annotations:\n    x"): string {
  let y = `lol: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  for (let i = 1; i <= levels; i++) {
    y += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]\n`;
  }
  return `${y}kind: Service\napiVersion: v1\n${field}: *a${levels}\n`;
}

function refused(text: string, re: RegExp): void {
  assert.throws(() => parseManifest(text, "/m/x.yaml"), (err: unknown) => {
    assert.ok(err instanceof KipvsError && err.code === "invalid-config", String(err));
    assert.match(err.message, /^cannot parse \/m\/x\.yaml: /);
    assert.match(err.message, re);
    return true;
  });
}

Deno.test("parseManifest() refuses alias bombs, circular aliases and deep nesting, in bounded time", () => {
  const t0 = performance.now();
  refused(aliasBomb(9), /aliases expand to more than 100000 values/);
  refused(aliasBomb(30, "spec:\n  ports"), /aliases expand to more than 100000 values/);
  refused("kind: Service\nspec: &s\n  ports: [*s]\n", /circular document/);
  refused("a: 1\n---\nb: &x {c: *x}\n", /document 2: an alias refers to a value that contains it/);
  refused("a: " + "[".repeat(150) + "]".repeat(150) + "\n", /nesting exceeded maxDepth \(100\)/);
  refused("[".repeat(150) + "]".repeat(150), /nested deeper than 100 levels/); // JSON
  let deep = "d0: &d0 [1]\n";
  for (let i = 1; i < 30; i++) deep += `d${i}: &d${i} [[[[[*d${i - 1}]]]]]\n`;
  refused(deep, /nested deeper than 100 levels once aliases are expanded/);
  assert.ok(performance.now() - t0 < 2_000);
});

Deno.test("parseManifest() keeps what aliases share in a small way", () => {
  const r = parseManifest(
    "kind: Service\nmetadata:\n  labels: &l {app: web}\n  annotations: *l\n",
    "x.yaml",
  );
  const raw = r.items[0]!.raw as { metadata: { labels: unknown; annotations: unknown } };
  assert.deepEqual(raw.metadata.annotations, { app: "web" });
  assert.equal(checkBounds(aliasBomb(4), { aliases: false }), undefined); // a text: no document
});

Deno.test("mayHaveAnchors() finds anchors where a node may start, not ampersands in values", () => {
  assert.equal(mayHaveAnchors("url: http://x/?a=1&b=2\nq: R&D\n"), false);
  for (const y of ["a: &x 1", "- &x 1", "[&x 1]", "&x a: 1", "{a: &x 1}"]) {
    assert.equal(mayHaveAnchors(y), true, y);
  }
});
