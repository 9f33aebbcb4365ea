// What an operator looks at and runs, against the real kernel with real traffic, in one guest
// boot of a node programmed by `kipvs run --config F --hostname-override N ...`: `kipvs top` (one
// snapshot with names from the manifests and from kube-proxy's sets, JSON, and the live view in
// a tmux pseudo-terminal, read back from its screen and driven by keys) while a client keeps
// connecting to default/web; the Grafana dashboard's metrics checked against a live /metrics
// scrape of `kipvs run`; then `kipvs cleanup` with run's own command line, as kube-proxy's
// `--cleanup` takes kube-proxy's (the file's ipvs.excludeCIDRs protect a virtual server; run's
// other flags are accepted and ignored), state read back with ipvsadm, ipset and iptables-save.
import assert from "node:assert/strict";
import type { TopReport } from "../../src/diag/top.ts";
import { dashboard, dashboardMetrics, exposedNames } from "../deploy/_grafana.ts";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";

const SCRIPT = String.raw`set -u
M="$KIPVS_ROOT/tests/kernel/guest/diag/cluster.yaml"
F=/run/kipvs/config.conf
cat >$F <<'CONF'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.244.0.0/16
ipvs:
  scheduler: rr
  excludeCIDRs: [10.200.0.0/16]
CONF
FLAGS="--config $F --hostname-override kipvs-node --manifests $M --iptables-backend legacy"
pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3
pod_serve pod-a 8080 5353; pod_serve pod-b 8080 5353
kipvs_bg $KIPVS_OUT/run.log run $FLAGS --log-format json --ipvs-sync-period 5s
wait_for 60 sh -c 'ipvsadm -Sn | grep -q -- "-A -t 10.96.0.10:80"' >/dev/null || { cat $KIPVS_OUT/run.log; exit 1; }
# Traffic to default/web for the rest of the boot: about 20 new connections a second (a faster
# loop fills the guest's conntrack table, 6,144 entries of two minutes each, and then drops new
# connections, the metrics scrape's too), and one held open.
(timeout 90 python3 "$GUEST_DIR/client.py" tcp 10.96.0.10 80 --count 1000000 --pause 0.05 >/dev/null) &
(timeout 90 python3 "$GUEST_DIR/client.py" hold 10.96.0.10 80 --seconds 80 --interval 0.5 >/dev/null) &
# IPVS's estimator updates the rates every 2 s: wait until they show traffic.
wait_for 20 sh -c 'ipvsadm -Ln --rate -t 10.96.0.10:80 | awk "/^TCP/ {exit !(\$3 > 0)}"' >/dev/null
echo "=== ipvsadm-rate"; ipvsadm -Ln --rate -t 10.96.0.10:80
echo "=== top-once"; kipvs top --once $FLAGS; echo "rc=$?"
echo "=== top-kernel"; kipvs top --once --endpoints --iptables-backend legacy; echo "rc=$?"
echo "=== top-json"; kipvs top --once -o json --service web --sort name $FLAGS; echo "rc=$?"
echo "=== top-live"
cat >/run/kipvs/bin/kipvs-top <<WRAP
#!/bin/sh
exec "$DENO" run --node-modules-dir=manual --cached-only $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions" | xargs) "$KIPVS_ROOT/main.ts" top "\$@"
WRAP
chmod +x /run/kipvs/bin/kipvs-top
# tmux needs pseudo-terminals: devpts on the guest's own /dev (a devtmpfs, never the host's).
grep -q '^devtmpfs /dev ' /proc/mounts || { echo "no devtmpfs on /dev"; exit 1; }
mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts
export TMUX_TMPDIR=/run/kipvs TERM=xterm
screen() { tmux capture-pane -p -t top; }
tmux new-session -d -s top -x 140 -y 30 "kipvs-top $FLAGS --interval 1s; echo top-exited-\$?; sleep 60"
wait_for 60 sh -c 'tmux capture-pane -p -t top | grep -q "^default/web:http "' >/dev/null
screen >$KIPVS_OUT/screen1
tmux send-keys -t top e
wait_for 10 sh -c 'tmux capture-pane -p -t top | grep -q -- "-> 10.244.1.2:8080"' >/dev/null
screen >$KIPVS_OUT/screen2
tmux send-keys -t top q
wait_for 10 sh -c 'tmux capture-pane -p -t top | grep -q top-exited'  >/dev/null
screen >$KIPVS_OUT/screen3
tmux kill-server
for i in 1 2 3; do echo "--- screen$i"; cat $KIPVS_OUT/screen$i; done
echo "=== metrics"; curl -sS --max-time 30 http://127.0.0.1:10249/metrics; echo "rc=$?"
echo "=== run-log"; kill -0 $KIPVS_PID 2>/dev/null && echo "kipvs run alive" || echo "kipvs run gone"
echo "conntrack entries $(conntrack -C) of $(cat /proc/sys/net/netfilter/nf_conntrack_max)"; tail -5 $KIPVS_OUT/run.log
kill -TERM $KIPVS_PID; wait $KIPVS_PID
ipvsadm -A -t 10.200.0.1:80 -s rr
echo "=== before"; ipvsadm -Sn | grep -c -- '^-A'; ipset list -n | grep -c '^KUBE-'
echo "=== cleanup"; kipvs cleanup $FLAGS --log-format json --ipvs-sync-period 5s -o json; echo "rc=$?"
echo "=== after-ipvs"; ipvsadm -Sn
echo "=== after-sets"; ipset list -n | grep '^KUBE-'
echo "=== after-rules"; (iptables-legacy-save; ip6tables-legacy-save) | grep -c -- KUBE-
echo "=== after-link"; ip link show kube-ipvs0 >/dev/null 2>&1 && echo present || echo absent
echo "=== again"; kipvs cleanup $FLAGS --once; echo "rc=$?"
`;

const r = runInGuest({ name: "observe", script: SCRIPT, timeoutMs: 240_000 });

async function sections(): Promise<Map<string, string>> {
  const out = await r;
  assertGuestOk(out, "observe script");
  return outputSections(out.stdout);
}

function get(s: Map<string, string>, name: string): string {
  const text = s.get(name);
  if (text === undefined) assert.fail(`no section ${name}; have ${[...s.keys()].join(", ")}`);
  return text;
}

/** The figures of a table row, by column (SERVICE, CONN/S, ...). */
function row(text: string, name: string): Record<string, string> {
  const lines = text.split("\n");
  const header = lines.find((l) => l.startsWith("SERVICE "));
  const line = lines.find((l) => l.startsWith(`${name} `));
  assert.ok(header && line, `no row ${name} in:\n${text}`);
  const cols = header.split(/ {2,}/);
  const cells = line.trim().split(/ +/);
  return Object.fromEntries(cols.map((c, i) => [c, cells[i]!]));
}

Deno.test("kipvs top --once shows the Service that receives traffic, with non-zero rates", async () => {
  const s = await sections();
  const once = get(s, "top-once");
  assert.match(once, /\nrc=0$/, once);
  const web = row(once, "default/web:http");
  assert.notEqual(web["CONN/S"], "0", once);
  assert.notEqual(web["PKT/S IN"], "0", once);
  assert.notEqual(web["BYTES/S OUT"], "0B", once);
  assert.ok(Number(web["ACTIVE"]) >= 1, `the held connection is active:\n${once}`);
  // A service without traffic is there, at zero.
  assert.equal(row(once, "default/empty:http")["CONN/S"], "0");
  // Without a source, the row is named by its cluster IP, and the real servers are listed.
  const kernel = get(s, "top-kernel");
  assert.match(kernel, /\nrc=0$/, kernel);
  assert.notEqual(row(kernel, "TCP/10.96.0.10:80")["CONN/S"], "0", kernel);
  assert.match(kernel, /^ {2}-> 10\.244\.1\.2:8080 /m);
});

Deno.test("kipvs top -o json reports the figures of the filtered service", async () => {
  const s = await sections();
  const text = get(s, "top-json");
  const report = JSON.parse(text.slice(0, text.lastIndexOf("rc="))) as TopReport;
  assert.deepEqual(report.rows.map((x) => x.name), ["default/web:http"]);
  const web = report.rows[0]!;
  assert.ok(web.cps > 0 && web.ppsIn > 0 && web.bpsIn > 0 && web.connections > 0, text);
  assert.ok(web.virtualServers.includes("TCP/10.96.0.10:80"));
  assert.deepEqual(web.realServers.map((x) => x.address).sort(), ["10.244.1.2", "10.244.1.3"]);
});

Deno.test("kipvs top live in a pseudo-terminal: the screen shows the traffic, e shows real servers, q ends it", async () => {
  const s = await sections();
  const live = get(s, "top-live");
  const [, one = "", two = "", three = ""] = live.split(/^--- screen\d\n/m);
  assert.match(one, /^kipvs top .* every 1 s/m, live);
  assert.notEqual(row(one, "default/web:http")["CONN/S"], "0", one);
  assert.match(one, /^keys: q quit/m);
  assert.doesNotMatch(one, /-> 10\.244\.1\.2:8080/);
  assert.match(two, /^ {2}-> 10\.244\.1\.2:8080 /m, two);
  assert.match(three, /^top-exited-0$/m, three);
});

Deno.test("every metric the Grafana dashboard queries is exported by kipvs run (live /metrics scrape)", async () => {
  const s = await sections();
  const scrape = get(s, "metrics");
  assert.match(scrape, /\nrc=0$/, `${scrape}\n${get(s, "run-log")}`);
  const exposed = exposedNames(scrape);
  assert.ok(exposed.size > 10, scrape);
  const missing = [...dashboardMetrics(await dashboard())]
    .filter(([name]) => !exposed.has(name))
    .map(([name, where]) => `${name} (${where.join(", ")})`);
  assert.deepEqual(missing, [], `exported: ${[...exposed].sort().join(" ")}`);
});

Deno.test("kipvs cleanup --config F --hostname-override N (run's command line) cleans the node and keeps the file's excluded CIDRs", async () => {
  const s = await sections();
  const [vs, sets] = get(s, "before").split("\n").map(Number);
  assert.ok(vs! >= 5 && sets! >= 5, `kipvs run programmed the node:\n${get(s, "before")}`);
  const cleanup = get(s, "cleanup");
  assert.match(cleanup, /\nrc=0$/, cleanup);
  const json = JSON.parse(cleanup.slice(0, cleanup.lastIndexOf("rc=")));
  assert.equal(json.removed.virtualServers.length, vs! - 1);
  assert.deepEqual(json.kept.virtualServers.map((v: { text: string }) => v.text), [
    "TCP/10.200.0.1:80",
  ]);
  // Only the excluded virtual server is left; nothing of kube-proxy's names remains.
  assert.match(get(s, "after-ipvs"), /^-A -t 10\.200\.0\.1:80 -s rr$/m);
  assert.equal(get(s, "after-ipvs").split("\n").filter((l) => l.startsWith("-A")).length, 1);
  assert.equal(get(s, "after-sets"), "");
  assert.equal(get(s, "after-rules"), "0");
  assert.equal(get(s, "after-link"), "absent");
  assert.match(get(s, "again"), /^nothing to remove: .*\nrc=0$/m);
});
