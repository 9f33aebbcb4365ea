/**
 * Run by informer_test.ts with `--v8-flags=--expose-gc`: opens watches, collects garbage, then
 * stops the source; prints "stopped" when stop() finished (it hung before body.ts cancelled
 * bodies itself).
 *
 * @module
 */

import { Logger } from "../../../src/log.ts";
import { KubeClient } from "../../../src/source/kube/client.ts";
import { KubeSource } from "../../../src/source/kube/kube_source.ts";
import { TestApiServer } from "../../support/apiserver.ts";
import { rawService, testDecoder } from "../../support/kube_objects.ts";
import { waitFor } from "../../support/wait.ts";

const s = await TestApiServer.start();
s.apply("services", rawService("default", "web"));
const source = new KubeSource({
  client: new KubeClient({
    connection: {
      server: s.url,
      caCerts: [],
      insecureSkipTLSVerify: false,
      credentials: { kind: "none" },
      origin: "test",
    },
  }),
  nodeName: "node-1",
  decode: testDecoder,
  log: new Logger({ sink: () => {} }),
});
await source.start();
await waitFor("three watches", () => s.openWatches === 3);
s.apply("services", rawService("default", "web", { port: 81 }));
await new Promise((r) => setTimeout(r, 50));
(globalThis as unknown as { gc: () => void }).gc();
const stopped = source.stop().then(() => "stopped");
const timeout = new Promise<string>((r) => setTimeout(() => r("stop() hung"), 3000));
console.log(await Promise.race([stopped, timeout]));
await waitFor("the server to see the watches closed", () => s.openWatches === 0, 3000)
  .then(() => console.log("closed"), () => console.log(`${s.openWatches} watches still open`));
await s.close();
Deno.exit(0);
