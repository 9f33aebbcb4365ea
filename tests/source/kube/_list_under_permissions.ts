/**
 * Run by permissions_test.ts with exactly the permissions of the kipvs binary
 * (scripts/permissions): opens the Kubernetes source for each kubeconfig given, lists, and
 * prints what it saw as one JSON line per kubeconfig.
 *
 * @module
 */

import { describeError } from "../../../src/errors.ts";
import { Logger } from "../../../src/log.ts";
import { openKubeSource } from "../../../src/source/kube/open.ts";
import { testDecoder } from "../../support/kube_objects.ts";

for (const kubeconfig of Deno.args) {
  try {
    const source = await openKubeSource({
      kubeconfig,
      nodeName: "node-1",
      decode: testDecoder,
      log: new Logger({ level: "warn" }), // to stderr: the test shows it when it fails
    });
    await source.start();
    const v = source.snapshot();
    console.log(JSON.stringify({
      services: [...v.services.keys()],
      endpointSlices: [...v.endpointSlices.keys()],
      node: v.node?.metadata.name ?? null,
    }));
    await source.stop();
  } catch (err) {
    console.log(JSON.stringify({ error: describeError(err) }));
  }
}
