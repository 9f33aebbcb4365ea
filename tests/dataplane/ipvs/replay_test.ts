import assert from "node:assert/strict";
import { FakeIpvs } from "./fake.ts";
import { KernelIpvs } from "../../../src/dataplane/ipvs/kernel.ts";
import { formatRules } from "../../../src/dataplane/ipvs/rules.ts";
import type { ServiceEntry } from "../../../src/dataplane/ipvs/types.ts";
import { ReplayTransport } from "../netlink/_transport.ts";
import { ipvsScenario, sortedByAddress, sortedTable } from "./_scenario.ts";

// Recorded from the guest kernel by tests/kernel/guest/ipvs_capture.ts.
const RECORDING = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/kernel-replies.json", import.meta.url)),
);

/** The table as sorted ipvsadm rule lines: order-free and easy to read in a diff. */
const rules = (t: ServiceEntry[]) => formatRules(t).trim().split("\n").sort();

const EXPECTED_RULES = [
  "-A --sctp-service 10.96.0.12:3868 -s lc",
  "-A -f 4660 -s mh -b mh-fallback,mh-port",
  "-A -f 4661 -6 -s rr -p 30 -o",
  "-A -t 10.96.0.10:80 -s rr",
  "-A -t 10.96.0.11:443 -s wlc -p 600 -M 255.255.255.0",
  "-A -u [fd00::a]:53 -s sh -p 300 -M 64 -b sh-fallback,sh-port",
  "-a --sctp-service 10.96.0.12:3868 -r 10.244.3.2:3868 -m -w 1",
  "-a -f 4660 -r 10.244.4.2:0 -g -w 1",
  "-a -f 4661 -6 -r [fd00:244::4]:0 -g -w 1",
  "-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1",
  "-a -t 10.96.0.10:80 -r 10.244.1.3:8080 -m -w 3",
  "-a -t 10.96.0.11:443 -r 10.244.2.2:443 -g -w 1",
  "-a -t 10.96.0.11:443 -r 10.244.2.3:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum",
  "-a -t 10.96.0.11:443 -r 10.244.2.4:443 -i -w 1 --tun-type ipip",
  "-a -u [fd00::a]:53 -r [fd00:244::2]:5353 -m -w 0",
];

Deno.test("KernelIpvs sends the recorded requests byte for byte and decodes the kernel's replies", async () => {
  const replay = new ReplayTransport(RECORDING);
  const ipvs = KernelIpvs.open({ transport: replay, firstSeq: 1000 });
  const out = await ipvsScenario(ipvs);
  assert.equal(replay.remaining, 0, "every recorded exchange was replayed");
  assert.deepEqual(out.info, { version: "1.2.1", connectionTableSize: 4096 });
  assert.deepEqual(out.timeoutsBefore, { tcp: 900, tcpFin: 120, udp: 300 });
  assert.deepEqual(out.timeoutsAfter, { tcp: 1800, tcpFin: 120, udp: 60 });
  assert.deepEqual(out.results.slice(0, 15), Array(15).fill("ok"));
  assert.deepEqual(out.results.slice(15), [
    "17 add destination 10.244.1.2:8080 to TCP/10.96.0.10:80: File exists (EEXIST)",
    "3 add destination 10.244.9.9:80 to TCP/10.96.9.9:1: No such process (ESRCH): no such service",
  ]);
  assert.deepEqual(rules(out.table), EXPECTED_RULES);
  const tunnels = out.table.flatMap((s) => s.destinations).filter((d) => d.forward === "tunnel")
    .map((d) => d.tunnel).sort((a, b) => (a!.type < b!.type ? -1 : 1));
  assert.deepEqual(tunnels, [
    { type: "gue", port: 6080, flags: 0 },
    { type: "ipip", port: 0, flags: 0 },
  ]);
  const thresholds = out.table.flatMap((s) => s.destinations).find((d) => d.upperThreshold);
  assert.deepEqual([thresholds?.upperThreshold, thresholds?.lowerThreshold], [100, 10]);
  assert.equal(out.got?.timeout, 600);
  assert.equal(out.missing, undefined);
  assert.deepEqual(out.missingDests, []);
  // listDestinationsOf(): each service's real servers in the keys' order, [] for the missing.
  assert.deepEqual(out.many.map((ds) => ds.map((d) => `${d.address}:${d.port}`).sort()), [
    ["10.244.1.2:8080", "10.244.1.3:8080"],
    [],
    ["fd00:244::2:5353"],
  ]);
  // A read without counters: the same rules, and no stats anywhere.
  assert.deepEqual(rules(out.lean), EXPECTED_RULES);
  assert.ok(out.lean.every((s) => !("stats" in s) && s.destinations.every((d) => !("stats" in d))));
  assert.ok(out.table.every((s) => s.stats && s.destinations.every((d) => d.stats)));
});

Deno.test("FakeIpvs answers the scenario as the recorded kernel did", async () => {
  const kernel = await ipvsScenario(
    KernelIpvs.open({ transport: new ReplayTransport(RECORDING), firstSeq: 1000 }),
  );
  const fake = await ipvsScenario(new FakeIpvs());
  assert.deepEqual(fake.results, kernel.results);
  assert.deepEqual(rules(fake.table), rules(kernel.table));
  assert.deepEqual(sortedTable(fake.table), sortedTable(kernel.table));
  assert.deepEqual(sortedTable(fake.lean), sortedTable(kernel.lean));
  assert.deepEqual(fake.many.map(sortedByAddress), kernel.many.map(sortedByAddress));
  for (
    const k of [
      "info",
      "timeoutsBefore",
      "timeoutsAfter",
      "got",
      "missing",
      "missingDests",
    ] as const
  ) {
    assert.deepEqual(fake[k], kernel[k], k);
  }
});
