import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { CORPUS } from "./hostile_corpus.ts";

// A running kipvs, a directory it watches (on the guest's tmpfs: hostfs has no file events),
// and into it, renamed into place at once: the corpus's alias bombs, its deep and huge files,
// and a valid file that takes seconds to parse. Right after, a valid edit of another file:
// it must be programmed within seconds, and healthz and metrics must answer throughout.
const BOMBS = [
  "bomb-annotation.yaml",
  "bomb-ports.yaml",
  "bomb-deeper.yaml",
  "alias-cycle.yaml",
  "many-aliases.yaml",
  "deep-flow.yaml",
  "deep.json",
  "huge-externalips.yaml",
  "binary-garbage.yaml",
];

const SCRIPT = (dir: string) =>
  String.raw`
set -u
M=/run/hd/m
mkdir -p $M /run/hd/stage
svc() { # svc NAME IP ENDPOINT...: a service and its slice, renamed into place
  n=$1
  {
    echo "apiVersion: v1"
    echo "kind: Service"
    echo "metadata: {name: $1, namespace: default}"
    echo "spec: {clusterIP: $2, ports: [{name: http, port: 80, targetPort: 8080}]}"
    echo "---"
    echo "apiVersion: discovery.k8s.io/v1"
    echo "kind: EndpointSlice"
    echo "metadata: {name: $1-1, namespace: default, labels: {kubernetes.io/service-name: $1}}"
    echo "addressType: IPv4"
    echo "ports: [{name: http, port: 8080, protocol: TCP}]"
    echo "endpoints:"
    shift 2
    for ip in "$@"; do echo "- {addresses: [$ip], nodeName: kipvs-node}"; done
  } >/run/hd/stage/$n.yaml
  mv /run/hd/stage/$n.yaml $M/$n.yaml
}
has_rs() { ipvsadm -Sn | grep -q -- "-a -t $1:80 -r $2:8080"; }
pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3
pod_serve pod-a 8080; pod_serve pod-b 8080
svc web 10.96.2.1 10.244.1.2
svc other 10.96.2.2 10.244.1.2
# A valid file that takes long to parse (about 3 MB): a ConfigMap of 60,000 keys, which kipvs
# does not read, then a Service.
{
  echo "apiVersion: v1"
  echo "kind: ConfigMap"
  echo "metadata: {name: big}"
  echo "data:"
  seq 60000 | sed 's/.*/  k&: "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"/'
  echo "---"
  echo "apiVersion: v1"
  echo "kind: Service"
  echo "metadata: {name: slow}"
  echo "spec: {clusterIP: 10.96.2.3, ports: [{port: 80}]}"
} >/run/hd/stage/slow.yaml
for f in ${BOMBS.join(" ")}; do cp ${dir}/$f /run/hd/stage/; done

kipvs_bg $KIPVS_OUT/k.log run --manifests $M --iptables-backend legacy --log-format json \
  --ipvs-min-sync-period 200ms
echo "=== start"; wait_for 60 has_rs 10.96.2.1 10.244.1.2
URLS="http://127.0.0.1:10256/healthz http://127.0.0.1:10249/metrics"
echo "=== idle"; python3 "$GUEST_DIR/http_poll.py" 5 0.05 $URLS
python3 "$GUEST_DIR/http_poll.py" 25 0.05 $URLS >$KIPVS_OUT/poll.txt &
POLL=$!
sleep 1
echo "=== drop"
mv /run/hd/stage/slow.yaml $M/
for f in ${BOMBS.join(" ")}; do mv /run/hd/stage/$f $M/; done
sleep 0.3
T0=$(now_ms)
svc other 10.96.2.2 10.244.1.2 10.244.1.3
echo "=== edit"; wait_for 20 has_rs 10.96.2.2 10.244.1.3
echo "=== slow"; wait_for 120 ipvsadm -Ln -t 10.96.2.3:80
named() { for f in ${
    BOMBS.join(" ")
  }; do grep -q "/run/hd/m/$f" $KIPVS_OUT/k.log || return 1; done; }
echo "=== named"; wait_for 120 named
echo "=== traffic"; client tcp 10.96.2.2 80 --count 6 | sort -u | xargs
wait $POLL
echo "=== poll"; cat $KIPVS_OUT/poll.txt
kill -TERM $KIPVS_PID; wait $KIPVS_PID
echo "=== log"; grep -v '"level":"debug"' $KIPVS_OUT/k.log
`;

Deno.test("kipvs run applies a valid edit within seconds while bombs and a slow file land in the watched directory, and healthz answers throughout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-hostile-daemon-" });
  try {
    for (const c of CORPUS.filter((c) => BOMBS.includes(c.file))) {
      const bytes = typeof c.content === "string" ? new TextEncoder().encode(c.content) : c.content;
      await Deno.writeFile(`${dir}/${c.file}`, bytes);
    }
    const r = await runInGuest({ name: "hostile-daemon", script: SCRIPT(dir), timeoutMs: 300_000 });
    assertGuestOk(r, "hostile daemon");
    const s = outputSections(r.stdout);
    const editMs = Number(s.get("edit"));
    console.log(`edit applied ${editMs} ms after it was written; slow file in ${s.get("slow")} ms`);
    console.log(`idle:\n${s.get("idle")}\nduring:\n${s.get("poll")}`);
    assert.ok(editMs < 5_000, `the edit took ${s.get("edit")} ms`);
    assert.match(s.get("slow") ?? "", /^\d+$/, "the slow but valid file is programmed in the end");
    assert.match(s.get("named") ?? "", /^\d+$/, "every bad file is named in the end");
    assert.equal(s.get("traffic"), "pod-a pod-b");
    for (const line of (s.get("poll") ?? "").split("\n")) {
      const m = /n=(\d+) failed=(\d+) p50_ms=(\d+) p99_ms=(\d+) max_ms=(\d+)/.exec(line);
      assert.ok(m, line);
      assert.equal(m[2], "0", `requests failed: ${line}`);
      assert.ok(Number(m[1]) > 50, line);
      assert.ok(Number(m[5]) < 2_000, `an answer took over 2 s: ${line}`);
    }
    const log = (s.get("log") ?? "").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    for (const f of BOMBS) {
      assert.ok(
        log.some((l) => l.level === "warn" && String(l.msg).includes(`/run/hd/m/${f}`)),
        `${f} is named in a warning`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
