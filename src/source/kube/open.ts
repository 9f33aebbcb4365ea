/**
 * Opens a {@link KubeSource} from the command line's view of the world: `--kubeconfig`,
 * `--master` or the pod's service account (see `resolve.ts`).
 *
 * @module
 */

import type { Logger } from "../../log.ts";
import { KubeClient } from "./client.ts";
import type { ObjectDecoder } from "./decode.ts";
import { type InformerTuning, KubeSource } from "./kube_source.ts";
import { resolveConnection, type ResolveOptions } from "./resolve.ts";

/** Options of {@link openKubeSource}. */
export interface OpenKubeSourceOptions extends ResolveOptions {
  /** This node's name. */
  nodeName: string;
  /** Validates raw objects (`validateObject` of src/k8s/validate.ts). */
  decode: ObjectDecoder;
  /** Logger of the source. */
  log: Logger;
  /** Informer settings (tests shorten them). */
  tuning?: InformerTuning;
}

/** Resolves the connection and builds the source (it does not start it). */
export async function openKubeSource(options: OpenKubeSourceOptions): Promise<KubeSource> {
  const connection = await resolveConnection(options);
  options.log.info("using the Kubernetes API", {
    server: connection.server,
    from: connection.origin,
    auth: connection.clientCert ? "client certificate" : connection.credentials.kind,
  });
  return new KubeSource({
    client: new KubeClient({ connection }),
    nodeName: options.nodeName,
    decode: options.decode,
    log: options.log,
    tuning: options.tuning,
  });
}
