// kipvs run over 300 services in the guest: each kind of change is programmed by an incremental
// sync that does only its own work (no program run unless an ipset entry or rule changes), the
// kernel ends up holding exactly the plan of the edited files, and a restart writes nothing.
import assert from "node:assert/strict";
import {
  baselineInputs,
  benchConfig,
  manifestText,
  planTexts,
  remoteEndpoint,
  type ScaleShape,
  serviceKey,
} from "../../bench/scale_gen.ts";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { cellEnv, CELLS, matrixTest, NFTABLES_CELL } from "./matrix.ts";
import { parseNftTable } from "../../src/dataplane/nftables/parse.ts";
import { renderNftables } from "../../src/dataplane/nftables/render.ts";
import { planRules } from "../../src/plan/rules.ts";

const shape: ScaleShape = { services: 300, endpoints: 10, format: "json" };

const SCRIPT = String.raw`
set -eu
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
M=/run/inc/m
mkdir -p $M /run/inc/stage
cp "$DATA"/m/* $M/
ip netns add k
ip -n k link set lo up
ip -n k link add eth0 type dummy
ip -n k addr add 192.168.100.1/24 dev eth0
ip -n k link set eth0 up
start() {
  # shellcheck disable=SC2086
  (exec ip netns exec k "$DENO" run --node-modules-dir=manual --cached-only $perms \
    "$KIPVS_ROOT/main.ts" run --manifests $M --iptables-backend $KIPVS_BACKEND --log-format json \
    --rules-backend "$KIPVS_RULES" \
    --hostname-override node-0 --ipvs-sync-period 10m) >"$1" 2>&1 &
  PID=$!
}
synced() { grep -c '"msg":"synced"' "$1" || true; }
wait_sync() { # wait_sync LOG N: until LOG holds N synced lines; prints the last
  for _ in $(seq 600); do
    [ "$(synced "$1")" -ge "$2" ] && { grep '"msg":"synced"' "$1" | tail -n 1; return 0; }
    sleep 0.1
  done
  echo "no sync $2" >&2; tail -n 20 "$1" >&2; return 1
}
# step NAME FILE...: rename the staged files into place (or remove them) and print the sync.
n=1
step() {
  name=$1
  shift
  sleep 1.2 # past --ipvs-min-sync-period
  for f in "$@"; do
    if [ -e "$DATA/$name/$f" ]; then cp "$DATA/$name/$f" /run/inc/stage/ && mv "/run/inc/stage/$f" $M/;
    else rm $M/$f; fi
  done
  n=$((n + 1))
  echo "=== $name $(wait_sync /run/inc/k.log $n)"
}
start /run/inc/k.log
wait_sync /run/inc/k.log 1 >/dev/null
step remote "$REMOTE"
step local "$LOCAL"
step added "$ADDED"
step removed "$REMOVED"
if [ "$KIPVS_RULES" = nftables ]; then
  echo "=== loopback $(ip netns exec k nft get element ip kipvs loop-back "{ $LOOP_NFT }" >/dev/null 2>&1 && echo in || echo "is NOT in set")"
  ip netns exec k nft list table ip kipvs >"$DATA/nft4"
  ip netns exec k nft list table ip6 kipvs >"$DATA/nft6"
else
  echo "=== loopback $(ip netns exec k ipset test KUBE-LOOP-BACK "$LOOP" 2>&1 | tail -n 1)"
fi
ip netns exec k "$DENO" run --node-modules-dir=manual --cached-only $perms \
  "$KIPVS_ROOT/bench/ipvs_cli.ts" save | sort >/run/inc/ipvs
sort "$DATA/expected.rules" >/run/inc/ipvs.want
cmp -s /run/inc/ipvs /run/inc/ipvs.want && echo "=== ipvs same" || echo "=== ipvs differ"
ip netns exec k ipset save | grep '^add ' | sort >/run/inc/sets
grep '^add ' "$DATA/expected.ipset" | sort >/run/inc/sets.want
cmp -s /run/inc/sets /run/inc/sets.want && echo "=== sets same" || echo "=== sets differ"
ip -n k -o addr show dev kube-ipvs0 | awk '{print $4}' | sort >/run/inc/addr
sort "$DATA/expected.addr" >/run/inc/addr.want
cmp -s /run/inc/addr /run/inc/addr.want && echo "=== addresses same" || echo "=== addresses differ"
kill -TERM $PID
wait $PID || true
start /run/inc/k2.log
echo "=== restart $(wait_sync /run/inc/k2.log 1)"
kill -TERM $PID
wait $PID || true
`;

matrixTest(
  "kipvs run programs each change incrementally, runs no program (set entries go over netlink), and ends equal to the plan",
  async (_t, cell) => {
    const dir = await Deno.makeTempDir({ prefix: "kipvs-incremental-" });
    try {
      const files = new Map<string, string>();
      await Deno.mkdir(`${dir}/m`);
      for (let i = 0; i < shape.services; i++) {
        const { file } = serviceKey(shape, i);
        files.set(file, manifestText(shape, i));
        await Deno.writeTextFile(`${dir}/m/${file}`, files.get(file)!);
      }
      // Each edit's ipset entries that appear or disappear, from the plan before and after it.
      const entries = () => {
        const out = new Set<string>();
        for (const [set, es] of planTexts(files).ipsets) for (const e of es) out.add(`${set} ${e}`);
        return out;
      };
      const changed = new Map<string, number>();
      const edit = async (name: string, i: number, text: string | undefined) => {
        const { file } = serviceKey(shape, i);
        const before = entries();
        await Deno.mkdir(`${dir}/${name}`);
        if (text === undefined) files.delete(file);
        else {
          files.set(file, text);
          await Deno.writeTextFile(`${dir}/${name}/${file}`, text);
        }
        const after = entries();
        changed.set(
          name,
          [...after].filter((e) => !before.has(e)).length +
            [...before].filter((e) => !after.has(e)).length,
        );
        return file;
      };
      // Service 10 (ClusterIP): a remote endpoint replaced by another remote one.
      const remote = await edit(
        "remote",
        10,
        manifestText(shape, 10, { endpoint: 1, ip: "10.250.0.1" }),
      );
      // Service 20: its first endpoint (on node-0, this node) moved to a new pod here.
      const local = await edit(
        "local",
        20,
        manifestText(shape, 20, { endpoint: 0, ip: "10.250.0.2" }),
      );
      // A new service (index 300), then service 40 deleted.
      const added = await edit("added", 300, manifestText({ ...shape, services: 301 }, 300));
      const removed = await edit("removed", 40, undefined);
      const want = baselineInputs(planTexts(files));
      await Deno.writeTextFile(`${dir}/expected.rules`, want.ipvsadmRules);
      await Deno.writeTextFile(`${dir}/expected.ipset`, want.ipset);
      await Deno.writeTextFile(
        `${dir}/expected.addr`,
        want.addresses.split("\n").filter(Boolean).map((l) => l.split(" ")[2]).join("\n") + "\n",
      );
      assert.equal(remoteEndpoint(shape, 10), 1, "endpoint 1 of service 10 is on another node");
      assert.deepEqual(
        [...changed.values()],
        [0, 2, 3, 3],
        "entries: none, a hairpin swapped, 3, 3",
      );

      const r = await runInGuest({
        name: "incremental",
        kernel: cell.kernel,
        script: SCRIPT,
        timeoutMs: 240_000,
        env: {
          ...cellEnv(cell),
          DATA: dir,
          REMOTE: remote,
          LOCAL: local,
          ADDED: added,
          REMOVED: removed,
          LOOP: "10.250.0.2,tcp:8080,10.250.0.2",
          LOOP_NFT: "10.250.0.2 . tcp . 8080 . 10.250.0.2",
        },
      });
      assertGuestOk(r, "incremental scenario");
      const ctx = `\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
      const section = (k: string) => new RegExp(`^=== ${k} (.*)$`, "m").exec(r.stdout)?.[1] ?? "";
      const sync = (k: string) =>
        JSON.parse(section(k) || "{}") as Record<string, number | boolean>;
      const pick = (k: string, fields: string[]) => fields.map((f) => sync(k)[f]);
      const fields = [
        "full",
        "services",
        "ipvsOps",
        "processes",
        "ipsetRestores",
        "ipsetEntries",
        "iptablesRestores",
      ];

      // A remote endpoint: two IPVS operations, a handful of netlink messages, no program.
      assert.deepEqual(pick("remote", fields), [false, 1, 2, 0, 0, 0, 0], ctx);
      assert.ok(Number(sync("remote").netlinkMessages) <= 6, ctx);
      // A local endpoint: its hairpin entry swapped in one ipset restore over netlink, no program
      // (KUBE-LOOP-BACK was not empty, so the rules stay as they were): the set's header read and
      // the two entries are three netlink messages more.
      assert.deepEqual(pick("local", fields), [false, 1, 2, 0, 1, 2, 0], ctx);
      assert.ok(Number(sync("local").netlinkMessages) <= 6 + 3, ctx);
      // A new service: its virtual server with 10 real servers, its address, its 3 entries.
      assert.deepEqual(
        pick("added", [...fields, "addressesAdded"]),
        [false, 1, 11, 0, 1, 3, 0, 1],
        ctx,
      );
      // A deleted service: its virtual server (with its real servers), address and entries go.
      assert.deepEqual(
        pick("removed", [...fields, "addressesRemoved"]),
        [false, 1, 1, 0, 1, 3, 0, 1],
        ctx,
      );
      assert.doesNotMatch(section("loopback"), /is NOT in set/, ctx);
      assert.equal(section("ipvs"), "same", ctx);
      if (cell.rules === "nftables") {
        // Every planned member is an element of kipvs's tables, and nothing else is.
        const desired = planTexts(files);
        for (const family of [4, 6] as const) {
          const held = parseNftTable(await Deno.readTextFile(`${dir}/nft${family}`), family);
          const want = renderNftables({
            rules: planRules({ family, config: benchConfig(), ipsets: desired.ipsets }),
            sets: desired.ipsets,
          });
          for (const s of want.sets) {
            const got = held.sets.find((h) => h.name === s.name)?.elements ?? [];
            assert.deepEqual([...got].sort(), [...s.elements].sort(), `${family}/${s.name}`);
          }
          assert.deepEqual(held.chains.map((c) => c.rules), want.chains.map((c) => c.rules));
        }
      } else assert.equal(section("sets"), "same", ctx);
      assert.equal(section("addresses"), "same", ctx);
      assert.deepEqual(pick("restart", ["full", "writes"]), [true, 0], ctx);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { cells: [...CELLS, NFTABLES_CELL] },
);
