/**
 * The one-operation methods of {@link Ipvs}, shared by the kernel handle and the fake: each is a
 * batch of one through the implementation's `one()`.
 *
 * @module
 */

import type {
  Destination,
  DestinationKey,
  Ipvs,
  IpvsOp,
  ServiceKey,
  VirtualServer,
} from "./types.ts";

type SingleMethods =
  | "addService"
  | "updateService"
  | "deleteService"
  | "addDestination"
  | "updateDestination"
  | "deleteDestination";

/** Extend it and implement `one()`: applies one op, throwing its error when it fails. */
export abstract class SingleOps implements Pick<Ipvs, SingleMethods> {
  protected abstract one(op: IpvsOp): Promise<void>;

  addService(service: VirtualServer): Promise<void> {
    return this.one({ op: "add-service", service });
  }

  updateService(service: VirtualServer): Promise<void> {
    return this.one({ op: "update-service", service });
  }

  deleteService(key: ServiceKey): Promise<void> {
    return this.one({ op: "delete-service", key });
  }

  addDestination(service: ServiceKey, destination: Destination): Promise<void> {
    return this.one({ op: "add-destination", service, destination });
  }

  updateDestination(service: ServiceKey, destination: Destination): Promise<void> {
    return this.one({ op: "update-destination", service, destination });
  }

  deleteDestination(service: ServiceKey, destination: DestinationKey): Promise<void> {
    return this.one({ op: "delete-destination", service, destination });
  }
}
