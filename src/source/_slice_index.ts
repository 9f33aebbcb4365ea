/**
 * EndpointSlices grouped by their Service, kept up to date one slice at a time, so that the
 * proxy finds one service's slices without scanning all of them
 * (`ClusterState.endpointSlicesByService`).
 *
 * @module
 */

import { type EndpointSlice, objectKey, SERVICE_NAME_LABEL } from "../k8s/types.ts";

/** "namespace/name" of the Service a slice belongs to, or undefined without the label. */
export function sliceService(slice: EndpointSlice): string | undefined {
  const name = slice.metadata.labels[SERVICE_NAME_LABEL];
  return name ? objectKey({ namespace: slice.metadata.namespace, name }) : undefined;
}

/** Service key → slice key → slice. */
export class SliceIndex {
  readonly byService: Map<string, Map<string, EndpointSlice>> = new Map();

  /** Records that slice `key` changed from `prev` to `next` (either may be undefined). */
  update(key: string, prev: EndpointSlice | undefined, next: EndpointSlice | undefined): void {
    const from = prev && sliceService(prev);
    const to = next && sliceService(next);
    if (from !== undefined && from !== to) {
      const slices = this.byService.get(from);
      slices?.delete(key);
      if (slices?.size === 0) this.byService.delete(from);
    }
    if (to !== undefined && next) {
      let slices = this.byService.get(to);
      if (!slices) this.byService.set(to, slices = new Map());
      slices.set(key, next);
    }
  }
}
