// deploy/Dockerfile checked against what the binary is allowed to run and load
// (scripts/permissions): every program of --allow-run and every library of --allow-ffi comes
// from a Debian package the image installs. Where dpkg is present (Debian, as here), the
// program-to-package table is checked against the packages that really own the files.
import assert from "node:assert/strict";
import { allowList, manifests, one, permissionFlags, ROOT } from "./_deploy.ts";

/** The Debian package of each program kipvs runs and of each library it opens. */
const PACKAGE_OF: Record<string, string> = {
  sysctl: "procps",
  pgrep: "procps",
  modprobe: "kmod",
  ipset: "ipset",
  conntrack: "conntrack",
  nft: "nftables",
  "iptables-legacy-save": "iptables",
  "iptables-legacy-restore": "iptables",
  "ip6tables-legacy-save": "iptables",
  "ip6tables-legacy-restore": "iptables",
  "iptables-nft-save": "iptables",
  "iptables-nft-restore": "iptables",
  "ip6tables-nft-save": "iptables",
  "ip6tables-nft-restore": "iptables",
  "libnl-3.so.200": "libnl-3-200",
  "libnl-genl-3.so.200": "libnl-genl-3-200",
  "libnl-route-3.so.200": "libnl-route-3-200",
  "libc.so.6": "libc6",
};

interface Stage {
  from: string;
  lines: string[];
}

/** The Dockerfile's stages, with continuation lines joined and comments dropped. */
async function stages(): Promise<Stage[]> {
  const text = await Deno.readTextFile(`${ROOT}/deploy/Dockerfile`);
  const joined = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const out: Stage[] = [];
  for (const l of joined) {
    if (/^FROM\s/i.test(l)) out.push({ from: l.split(/\s+/)[1]!, lines: [] });
    else out.at(-1)?.lines.push(l);
  }
  return out;
}

/** Packages an `apt-get install` of the stage installs. */
function installed(stage: Stage): Set<string> {
  const pkgs = new Set<string>();
  for (const l of stage.lines) {
    for (const m of l.matchAll(/apt-get install ([^&;]*)/g)) {
      for (const w of m[1]!.split(/\s+/)) if (w && !w.startsWith("-")) pkgs.add(w);
    }
  }
  return pkgs;
}

async function dpkgOwner(path: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("dpkg", {
      args: ["-S", path],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).split(":")[0] : undefined;
  } catch {
    return undefined; // no dpkg
  }
}

Deno.test("the image is the compiled binary, with scripts/permissions, on a small Debian base", async () => {
  const all = await stages();
  const final = all.at(-1)!;
  assert.match(final.from, /^debian:[a-z]+-slim$/);
  const build = all.find((s) => s.lines.some((l) => l.includes("deno compile")))!;
  assert.ok(build, "a stage compiles kipvs");
  const compile = build.lines.find((l) => l.includes("deno compile"))!;
  assert.ok(compile.includes("$(grep -v '^#' scripts/permissions)"), compile);
  assert.match(compile, /--output dist\/kipvs main\.ts$/);
  // The manifest parse worker is loaded by URL: deno compile finds it only when told.
  assert.ok(compile.includes("--include src/source/_parse_worker.ts"), compile);
  const copy = final.lines.find((l) => /^COPY --from=/.test(l))!;
  assert.match(copy, /dist\/kipvs \/usr\/local\/bin\/kipvs$/);
  const entry = final.lines.find((l) => l.startsWith("ENTRYPOINT"))!;
  const ds = one(await manifests(), "DaemonSet");
  assert.equal(
    JSON.parse(entry.slice("ENTRYPOINT".length))[0],
    ds.spec.template.spec.containers[0].command[0],
  );
  for (const l of final.lines.filter((l) => l.includes("apt-get install"))) {
    assert.match(l, /--no-install-recommends/);
    assert.match(l, /rm -rf \/var\/lib\/apt\/lists/);
  }
});

Deno.test("the image has a package for every program kipvs may run and every library it may open", async () => {
  const flags = await permissionFlags();
  const programs = allowList(flags, "allow-run");
  const libraries = allowList(flags, "allow-ffi").filter((p) => p.includes("/x86_64-linux-gnu/"))
    .map((p) => p.split("/").at(-1)!);
  assert.ok(programs.length > 0 && libraries.length > 0);
  const pkgs = installed((await stages()).at(-1)!);
  for (const name of [...programs, ...libraries]) {
    const pkg = PACKAGE_OF[name];
    assert.ok(
      pkg,
      `scripts/permissions allows ${name}: add its Debian package to this test and the image`,
    );
    // libc6 comes with every Debian base image.
    if (pkg !== "libc6") {
      assert.ok(pkgs.has(pkg), `the image does not install ${pkg} (for ${name})`);
    }
  }
});

Deno.test("the program-to-package table agrees with dpkg where the programs are installed", async () => {
  const names = Object.keys(PACKAGE_OF);
  let checked = 0;
  for (const name of names) {
    const candidates = name.includes(".so")
      ? [`/lib/x86_64-linux-gnu/${name}`, `/usr/lib/x86_64-linux-gnu/${name}`]
      : [`/usr/sbin/${name}`, `/sbin/${name}`, `/usr/bin/${name}`, `/bin/${name}`];
    for (const path of candidates) {
      const owner = await dpkgOwner(path);
      if (owner === undefined) continue;
      assert.equal(owner, PACKAGE_OF[name], `dpkg says ${path} belongs to ${owner}`);
      checked++;
      break;
    }
  }
  // On this project's machines (Debian 12 with `make setup`) every one is installed.
  if (checked === 0) console.log("dpkg knows none of the files: nothing to cross-check");
  else assert.equal(checked, names.length, `dpkg knew ${checked} of ${names.length}`);
});
