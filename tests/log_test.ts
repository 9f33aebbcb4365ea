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
