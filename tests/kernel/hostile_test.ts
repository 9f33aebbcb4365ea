import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { CORPUS, FORGED, writeCorpus } from "./hostile_corpus.ts";

// The hostile-input corpus (hostile_corpus.ts) in one directory, plus what is too large to keep
// in a file of the project: a 40 MiB file (sparse), a file whose name holds a newline and a
// forged log line. One `kipvs run --once` over all of it, text log at debug level, then once
// more with JSON lines: both must exit 0 within 60 s and 400 MB, name each bad file, program
// the valid services (read back with ipvsadm, one of them with traffic), and write no line that
// kipvs did not write.
const SCRIPT = (dir: string) =>
  String.raw`
set -u
M=/run/hostile/m
mkdir -p $M
cp -r ${dir}/. $M/
truncate -s 40M $M/over-size.yaml
printf 'kind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}\n' \
  >"$M/evil
${FORGED}.yaml"
pod_create pod-a 10.244.1.2
pod_serve pod-a 8080
FLAGS="--manifests $M --iptables-backend legacy --cluster-cidr 10.244.0.0/16"
run() { # run NAME ARGS...: kipvs run --once, timed, its log in $KIPVS_OUT/NAME.log
  name=$1
  shift
  /usr/bin/time -o $KIPVS_OUT/$name.time -f "wall_s=%e rss_kb=%M" \
    "$DENO" run --node-modules-dir=manual --cached-only $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions") \
    "$KIPVS_ROOT/main.ts" run --once $FLAGS "$@" >$KIPVS_OUT/$name.out 2>$KIPVS_OUT/$name.log
  echo "=== $name"
  echo "rc=$?"
  cat $KIPVS_OUT/$name.time
}
run text --log-level debug
run json --log-format json
echo "=== ipvs"; ipvsadm -Sn
echo "=== traffic"; client tcp 10.96.1.1 80 --count 3 | xargs
echo "=== text log"; cat $KIPVS_OUT/text.log
echo "=== json log"; cat $KIPVS_OUT/json.log
`;

Deno.test("kipvs run --once over the hostile corpus programs the valid services and names every bad file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-hostile-" });
  try {
    writeCorpus(dir);
    assert.ok(CORPUS.length >= 60, `${CORPUS.length} files`);
    const r = await runInGuest({ name: "hostile", script: SCRIPT(dir), timeoutMs: 300_000 });
    assertGuestOk(r, "hostile corpus");
    const s = outputSections(r.stdout);
    for (const run of ["text", "json"]) {
      const out = s.get(run) ?? "";
      assert.match(out, /^rc=0$/m, `${run} run: ${out}`);
      const wall = Number(/wall_s=([\d.]+)/.exec(out)?.[1]);
      const rssMb = Number(/rss_kb=(\d+)/.exec(out)?.[1]) / 1024;
      console.log(`${run} run: ${wall} s, peak RSS ${rssMb.toFixed(0)} MB`);
      assert.ok(wall < 60, `${run} run took ${wall} s`);
      assert.ok(rssMb < 400, `${run} run peaked at ${rssMb} MB`);
    }

    // Valid services are programmed, and one of them serves.
    const ipvs = s.get("ipvs") ?? "";
    for (const c of CORPUS.filter((c) => c.vs)) {
      for (const vs of c.vs!) assert.ok(ipvs.includes(`-A ${vs} `), `${c.file}: ${vs}\n${ipvs}`);
    }
    assert.equal(s.get("traffic"), "pod-a pod-a pod-a");
    // Conflicts: the older Service has the contested address (its real server), both are named.
    assert.match(ipvs, /^-a -t 10\.96\.1\.40:80 -r 10\.244\.1\.2:8080 /m);

    // Each bad file is named, with the field and what is wrong; good and quiet files are not.
    const text = (s.get("text log") ?? "").split("\n");
    const warnings = text.filter((l) => / WARN /.test(l));
    const path = (file: string) => `/run/hostile/m/${file}`;
    for (const c of CORPUS) {
      const mine = warnings.filter((l) => l.includes(path(c.file)));
      if (c.expect instanceof RegExp) {
        assert.ok(
          mine.some((l) => (c.expect as RegExp).test(l)),
          `${c.file}: ${c.expect}\n${mine}`,
        );
      } else if (!c.file.startsWith("mixed-")) {
        assert.deepEqual(mine, [], `${c.file} is ${c.expect}`);
      }
    }
    assert.ok(warnings.some((l) => /over-size\.yaml is 40 MiB, over the bound of 32 MiB/.test(l)));
    assert.ok(
      warnings.some((l) =>
        /Services hostile\/zold and hostile\/anew both want TCP 10\.96\.1\.40:80: hostile\/zold has it/
          .test(l)
      ),
    );
    assert.ok(
      warnings.some((l) =>
        /Services hostile\/npa and hostile\/npb both want node port TCP 30090: hostile\/npa has it/
          .test(l)
      ),
    );
    assert.ok(
      warnings.some((l) => l.includes(`/run/hostile/m/evil\\n${FORGED}.yaml`)),
      "the file whose name holds a newline is named, escaped",
    );

    // No forged line: every line of both logs is one kipvs wrote.
    const stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) /;
    for (const line of text.filter(Boolean)) {
      assert.match(line, stamp, `a line kipvs did not write: ${JSON.stringify(line)}`);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
    }
    assert.ok(!text.some((l) => l.startsWith(FORGED)));
    for (const line of (s.get("json log") ?? "").split("\n").filter(Boolean)) {
      const o = JSON.parse(line);
      assert.ok(typeof o.ts === "string" && typeof o.msg === "string", line);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
