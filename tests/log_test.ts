import assert from "node:assert/strict";
import { Logger } from "../src/log.ts";
import { KipvsError } from "../src/errors.ts";

const at = () => new Date("2026-01-02T03:04:05.000Z");

Deno.test("Logger writes text lines with fields and drops lines below its level", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", sink: (l) => lines.push(l), now: at });
  log.debug("hidden");
  log.with({ sub: "run" }).info("synced", { services: 3, took: "1.2 ms" });
  assert.deepEqual(lines, [
    '2026-01-02T03:04:05.000Z INFO  synced sub=run services=3 took="1.2 ms"',
  ]);
});

Deno.test("Logger writes JSON lines with an error's code and cause chain", () => {
  const lines: string[] = [];
  const log = new Logger({ format: "json", sink: (l) => lines.push(l), now: at });
  const err = new KipvsError("netlink", "add service tcp/10.0.0.1:80", {
    cause: new Error("file exists"),
    details: { errno: 17 },
  });
  log.error("sync failed", { err });
  assert.deepEqual(JSON.parse(lines[0] ?? ""), {
    ts: "2026-01-02T03:04:05.000Z",
    level: "error",
    msg: "sync failed",
    err: { code: "netlink", message: "add service tcp/10.0.0.1:80: file exists", errno: 17 },
  });
});

/** Names a manifest can hold that would forge a line or drive a terminal if written raw. */
export const HOSTILE = [
  "web\n2026-01-02T03:04:05.000Z INFO  synced services=0",
  "cr\rINFO  overwritten",
  "esc\u001b[2J\u001b[31mred",
  "c1\u009b31m",
  "ls\u2028ps\u2029",
  "bidi\u202egnp.exe",
  "zw\u200bsp\ufeff",
  "lone\ud800surrogate",
  "tab\there",
  "del\u007f",
];

Deno.test("Logger text lines escape control and formatting characters in the message and every value", () => {
  const lines: string[] = [];
  const log = new Logger({ sink: (l) => lines.push(l), now: at });
  for (const name of HOSTILE) {
    log.warn(`invalid Service default/${name}`, { name, err: new Error(name), list: [name] });
  }
  assert.equal(lines.length, HOSTILE.length);
  for (const line of lines) {
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e\u200b\ufeff]/);
    assert.doesNotMatch(line, /[\ud800-\udbff](?![\udc00-\udfff])/);
  }
  assert.equal(
    lines[0],
    "2026-01-02T03:04:05.000Z WARN  invalid Service default/web\\n2026-01-02T03:04:05.000Z INFO" +
      '  synced services=0 name="web\\n2026-01-02T03:04:05.000Z INFO  synced services=0" ' +
      'err="web\\n2026-01-02T03:04:05.000Z INFO  synced services=0" ' +
      'list=["web\\n2026-01-02T03:04:05.000Z INFO  synced services=0"]',
  );
  assert.match(lines[2]!, /default\/esc\\u001b\[2J\\u001b\[31mred name="esc\\u001b\[2J/);
  assert.match(lines[5]!, /default\/bidi\\u202egnp\.exe name="bidi\\u202egnp\.exe"/);
});

Deno.test("Logger JSON lines stay valid JSON and keep hostile text as data", () => {
  const lines: string[] = [];
  const log = new Logger({ format: "json", sink: (l) => lines.push(l), now: at });
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  for (const name of HOSTILE) log.warn(`invalid ${name}`, { name, n: 10n, circular });
  assert.equal(lines.length, HOSTILE.length);
  lines.forEach((line, i) => {
    assert.ok(!line.includes("\n") && !line.includes("\r"));
    const o = JSON.parse(line);
    assert.equal(o.name, HOSTILE[i]);
    assert.equal(o.n, "10");
    assert.match(o.circular, /cannot encode/);
  });
});
