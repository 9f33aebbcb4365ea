import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** The modules src/ starts as workers (`new Worker(new URL("./x.ts", import.meta.url))`). */
async function workerModules(dir = `${ROOT}/src`): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await workerModules(path));
    if (!e.isFile || !e.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(/new Worker\(\s*new URL\(\s*"([^"]+)",\s*import\.meta\.url/g)) {
      out.push(fileURLToPath(new URL(m[1]!, `file://${path}`)).slice(ROOT.length + 1));
    }
  }
  return out.sort();
}

/** Every `deno compile` command line of the repository: make build, deno task build, the image. */
async function compileCommands(): Promise<{ where: string; line: string }[]> {
  const out: { where: string; line: string }[] = [];
  for (const where of ["Makefile", "deno.json", "deploy/Dockerfile"]) {
    const text = (await Deno.readTextFile(`${ROOT}/${where}`)).replace(/\\\n/g, " ");
    for (const line of text.split("\n")) {
      if (/(deno|\$\(DENO\)) compile /.test(line)) out.push({ where, line });
    }
  }
  return out;
}

Deno.test("every worker module is embedded by each deno compile (workers are not followed by imports)", async () => {
  const workers = await workerModules();
  assert.ok(workers.includes("src/observe/probes_worker.ts"), workers.join(", "));
  const commands = (await compileCommands()).filter((c) => !c.line.trim().startsWith("#"));
  assert.deepEqual(commands.map((c) => c.where).sort(), [
    "Makefile",
    "deno.json",
    "deploy/Dockerfile",
  ]);
  for (const c of commands) {
    for (const w of workers) assert.ok(c.line.includes(`--include ${w}`), `${c.where}: ${c.line}`);
  }
});
