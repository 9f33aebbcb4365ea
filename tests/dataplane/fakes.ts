/**
 * The dataplane of fakes that unit tests and bench:churn hand to a Proxier: IPVS, kube-ipvs0,
 * ipsets, iptables and conntrack, each new; pass one to keep a handle on it or give it a model.
 *
 * @module
 */

import { FakeConntrack } from "../../src/dataplane/conntrack/conntrack.ts";
import { FakeIpset } from "./ipset/fake.ts";
import { FakeIptables } from "./iptables/fake.ts";
import { FakeIpvs } from "./ipvs/fake.ts";
import { FakeDummyLink } from "./link/fake.ts";

/** The five fakes of a Proxier's dataplane. */
export interface FakeDataplane {
  ipvs: FakeIpvs;
  link: FakeDummyLink;
  ipset: FakeIpset;
  iptables: FakeIptables;
  conntrack: FakeConntrack;
}

/** A dataplane of new fakes, with those of `given` in their place. */
export function fakeDataplane(given: Partial<FakeDataplane> = {}): FakeDataplane {
  return {
    ipvs: given.ipvs ?? new FakeIpvs(),
    link: given.link ?? new FakeDummyLink(),
    ipset: given.ipset ?? new FakeIpset(),
    iptables: given.iptables ?? new FakeIptables(),
    conntrack: given.conntrack ?? new FakeConntrack(),
  };
}
