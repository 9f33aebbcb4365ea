/**
 * Validation of a discovery.k8s.io/v1 EndpointSlice, with the API's defaults and kube-proxy's
 * reading of endpoint conditions applied.
 *
 * @module
 */

import {
  type Endpoint,
  type EndpointPort,
  type EndpointSlice,
  type ObjectMeta,
  SERVICE_NAME_LABEL,
} from "./types.ts";
import { type Checker, type Raw } from "./_check.ts";
import { DNS_LABEL, DNS_SUBDOMAIN, SERVICE_NAME } from "./names.ts";
import { PROTOCOLS } from "./_service.ts";

/** Reads an EndpointSlice of address type IPv4 or IPv6 whose metadata was read already. */
export function readEndpointSlice(
  raw: Raw,
  metadata: ObjectMeta,
  addressType: "IPv4" | "IPv6",
  c: Checker,
): EndpointSlice {
  const svc = metadata.labels[SERVICE_NAME_LABEL];
  const labelField = `metadata.labels[${SERVICE_NAME_LABEL}]`;
  if (svc === undefined || svc === "") {
    c.fail(labelField, svc, "required: it names the slice's Service");
  } else if (!SERVICE_NAME.test(svc)) {
    c.fail(labelField, svc, `not a valid Service name: ${SERVICE_NAME.describe}`);
  }
  const family = addressType === "IPv4" ? 4 : 6;
  const endpoints = c.list(raw.endpoints, "endpoints").flatMap((v, i) => {
    const ep = readEndpoint(v, `endpoints[${i}]`, family, c);
    return ep ? [ep] : [];
  });
  return { kind: "EndpointSlice", metadata, addressType, endpoints, ports: readPorts(raw, c) };
}

function readEndpoint(v: unknown, f: string, family: 4 | 6, c: Checker): Endpoint | undefined {
  const e = c.element(v, f);
  if (e === undefined) return undefined;
  const rawAddrs = c.list(e.addresses, `${f}.addresses`);
  if (rawAddrs.length === 0) c.fail(`${f}.addresses`, undefined, "required: at least one address");
  const addresses = rawAddrs.flatMap((a, k) => {
    const field = `${f}.addresses[${k}]`;
    const ip = c.ipText(a, field, true);
    if (ip && ip.family !== family) {
      c.fail(field, a, `not an IPv${family} address (the slice's addressType is IPv${family})`);
      return [];
    }
    return ip ? [ip.text] : [];
  });
  const cond = c.record(e.conditions, `${f}.conditions`) ?? {};
  // The API's nil rules, as kube-proxy reads them: ready nil = true, serving nil = ready,
  // terminating nil = false.
  const ready = c.bool(cond.ready, `${f}.conditions.ready`) ?? true;
  const serving = c.bool(cond.serving, `${f}.conditions.serving`) ?? ready;
  const terminating = c.bool(cond.terminating, `${f}.conditions.terminating`) ?? false;
  const ep: Endpoint = { addresses, conditions: { ready, serving, terminating } };
  const nodeName = c.string(e.nodeName, `${f}.nodeName`);
  if (nodeName) {
    if (!DNS_SUBDOMAIN.test(nodeName)) {
      c.fail(`${f}.nodeName`, nodeName, `not a valid node name: ${DNS_SUBDOMAIN.describe}`);
    }
    ep.nodeName = nodeName;
  }
  const zone = c.string(e.zone, `${f}.zone`);
  if (zone) ep.zone = zone;
  const hints = c.record(e.hints, `${f}.hints`);
  if (hints) {
    const names = (key: "forZones" | "forNodes") =>
      c.list(hints[key], `${f}.hints.${key}`).flatMap((h, k) => {
        const r = c.element(h, `${f}.hints.${key}[${k}]`);
        const n = c.string(r?.name, `${f}.hints.${key}[${k}].name`, r !== undefined);
        return n ? [n] : [];
      });
    ep.hints = { forZones: names("forZones"), forNodes: names("forNodes") };
  }
  return ep;
}

function readPorts(raw: Raw, c: Checker): EndpointPort[] {
  const names = new Set<string>();
  return c.list(raw.ports, "ports").flatMap((v, i) => {
    const f = `ports[${i}]`;
    const p = c.element(v, f);
    if (p === undefined) return [];
    const name = c.name(p.name, `${f}.name`, DNS_LABEL, false);
    if (names.has(name)) c.fail(`${f}.name`, name, "duplicate port name");
    names.add(name);
    const protocol = c.oneOf(p.protocol, `${f}.protocol`, PROTOCOLS) ?? "TCP";
    // kube-proxy ignores a port without a number ("all ports" is not implemented).
    if (p.port === undefined || p.port === null) {
      c.warn(`${f}.port`, undefined, "missing: port ignored, as kube-proxy does");
      return [];
    }
    const port = c.integer(p.port, `${f}.port`, 1, 65535);
    return port === undefined ? [] : [{ name, protocol, port }];
  });
}
