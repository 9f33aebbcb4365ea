// The plan against a real kernel (one guest boot): the node's real interfaces through
// Deno.networkInterfaces() into node-port addresses, and every ipset entry the plan writes
// accepted by the kernel and printed back by `ipset save` exactly as planned.
import { assertGuestOk, runGuestTests } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

matrixTest(
  "plan in the guest kernel: node-port addresses and ipset entry formats",
  async (_t, cell) => {
    const r = await runGuestTests([`tests/kernel/guest/plan.guest.ts`], {
      name: "plan",
      kernel: cell.kernel,
      env: cellEnv(cell),
      timeoutMs: 150_000,
      before: `
set -e
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
node_init
ip link add kube-ipvs0 type dummy
ip addr add 10.96.0.1/32 dev kube-ipvs0
ip addr add fd00:96::1/128 dev kube-ipvs0
ip link add node0 type dummy
ip link set node0 up
ip addr add 10.0.0.10/24 dev node0
ip addr add 169.254.3.4/16 dev node0
ip addr add fd00:1::10/64 dev node0 nodad
set +e
`,
    });
    assertGuestOk(r, "plan guest tests");
  },
);
