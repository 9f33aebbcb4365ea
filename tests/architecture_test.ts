/**
 * The project's own guard on its shape: reads the import graph of `src/` (and `main.ts`) and
 * fails on an import that goes up a layer or closes a cycle (type-only imports included).
 *
 * The layer order is written once, here, lowest first. A file may import files of its own layer
 * or of lower layers. A path belongs to the layer whose prefix matches it longest.
 *
 * It also holds functions to about a screen: none in `src/` over {@link MAX_FUNCTION_LINES}
 * lines, counted from the declaration's first line to its closing brace, nested functions
 * included. Functions are found in the syntax tree Deno's linter parses (`Deno.lint.runPlugin`,
 * available in `deno test`), so strings, regular expressions and comments holding braces do not
 * fool it.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Layers of src/, lowest first; each names the path prefixes (relative to src/) it holds. */
export const LAYERS: readonly { name: string; paths: readonly string[] }[] = [
  // Leaves every layer may use: typed errors, time, sharing the event loop, the version.
  { name: "base", paths: ["errors.ts", "clock.ts", "pace.ts", "version.ts"] },
  // IP addresses, CIDRs and families.
  { name: "net", paths: ["net/"] },
  // The structured logger (used by every layer above).
  { name: "log", paths: ["log.ts"] },
  // Kubernetes object types and their validation.
  { name: "k8s", paths: ["k8s/"] },
  // Kernel transports: netlink sockets and program execution.
  { name: "kernel-io", paths: ["dataplane/netlink/", "dataplane/exec.ts"] },
  // Kernel backends (ipvs, link, ipset, iptables, sysctl, conntrack): no Kubernetes or plan.
  { name: "backends", paths: ["dataplane/"] },
  // Where cluster state comes from: the API server or manifest files.
  { name: "source", paths: ["source/"] },
  // The proxy's configuration: flags, config file, defaults.
  { name: "config", paths: ["config/"] },
  // Pure: cluster state + node configuration → desired state, as typed data.
  { name: "plan", paths: ["plan/"] },
  // Desired against observed, written to the backends.
  { name: "reconcile", paths: ["reconcile/"] },
  // Metrics, health answers, service health checks.
  { name: "observe", paths: ["observe/"] },
  // The daemon: when to plan and reconcile.
  { name: "agent", paths: ["agent/"] },
  // dump, diff, explain, cleanup: read the kernel, compare, render for humans.
  { name: "diag", paths: ["diag/"] },
  // The command line.
  { name: "cli", paths: ["cli/"] },
  // The executable's entry point (the repository's main.ts).
  { name: "main", paths: ["../main.ts"] },
];

/** One import: the importing file, the imported file (both relative to src/), the line. */
export interface Edge {
  from: string;
  to: string;
  line: number;
}

/** The layer index of `path` (relative to src/), or -1 when no layer holds it. */
export function layerOf(path: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((layer, index) => {
    for (const prefix of layer.paths) {
      const matches = prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix;
      if (matches && prefix.length > bestLength) {
        best = index;
        bestLength = prefix.length;
      }
    }
  });
  return best;
}

// Static imports and re-exports (`import x from`, `import type`, `export ... from`, `import "x"`)
// and dynamic `import("x")`, over several lines; comments are stripped first.
const IMPORT =
  /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

function stripComments(text: string): string {
  // Keeps newlines so that line numbers stay right.
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/^\s*\/\/.*$/gm, "");
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "." || part === "") continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

function* tsFiles(dir: string, prefix = ""): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) yield* tsFiles(`${dir}/${entry.name}`, `${path}/`);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The import graph of the files under `root`, plus `extra` files (paths relative to root). */
export function importGraph(root: string, extra: readonly string[] = []): Edge[] {
  const edges: Edge[] = [];
  for (const file of [...tsFiles(root), ...extra]) {
    const text = stripComments(Deno.readTextFileSync(`${root}/${file}`));
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith(".")) continue;
      const line = text.slice(0, match.index + match[0].indexOf(specifier)).split("\n").length;
      const to = normalize(`${dir}/${specifier}`);
      edges.push({
        from: file,
        to: to.startsWith("../src/") ? to.slice("../src/".length) : to,
        line,
      });
    }
  }
  return edges;
}

/** Every import that goes up a layer, and every file no layer holds, as messages. */
export function upwardImports(edges: readonly Edge[]): string[] {
  const problems: string[] = [];
  for (const { from, to, line } of edges) {
    const [a, b] = [layerOf(from), layerOf(to)];
    if (a < 0) problems.push(`${from}: in no layer of LAYERS`);
    else if (b < 0) problems.push(`${from}:${line} imports ${to}, in no layer of LAYERS`);
    else if (b > a) {
      problems.push(
        `${from}:${line} (${LAYERS[a]!.name}) imports ${to} (${LAYERS[b]!.name}), a higher layer`,
      );
    }
  }
  return [...new Set(problems)];
}

/** Every cycle of imports (strongly connected components of two or more files, or self-imports). */
export function importCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    if (!next.has(to)) next.set(to, []);
    next.get(from)!.push(to);
  }
  // Tarjan's algorithm, iterative.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [node, i] = frame;
      if (i === 0) {
        index.set(node, counter);
        low.set(node, counter++);
        stack.push(node);
        onStack.add(node);
      }
      const targets = next.get(node)!;
      if (i < targets.length) {
        frame[1]++;
        const target = targets[i]!;
        if (!index.has(target)) work.push([target, 0]);
        else if (onStack.has(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(node)!));
      }
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1 || targets.includes(node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

/** The longest function `src/` may hold, in lines. */
export const MAX_FUNCTION_LINES = 60;

/** The line of each offset: the start offset of every line, searched. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/** A function's name for messages: its own, its method's or its variable's, else "(anonymous)". */
function functionName(node: Deno.lint.Node): string {
  const named = (n: unknown) => {
    const id = n as { id?: { name?: string }; key?: { name?: string } } | undefined;
    return id?.id?.name ?? id?.key?.name;
  };
  return named(node) ?? named((node as { parent?: unknown }).parent) ?? "(anonymous)";
}

/** The functions of a file longer than `max` lines, as "file:line name (N lines)". */
export function longFunctions(file: string, text: string, max = MAX_FUNCTION_LINES): string[] {
  const lineOf = lineIndex(text);
  const out: string[] = [];
  const seen = new Set<number>();
  const check = (node: Deno.lint.Node) => {
    // A method's function expression shares its method's end: count the method once.
    if (seen.has(node.range[1])) return;
    seen.add(node.range[1]);
    const first = lineOf(node.range[0]);
    const lines = lineOf(node.range[1]) - first + 1;
    if (lines > max) out.push(`${file}:${first} ${functionName(node)} (${lines} lines)`);
  };
  const plugin: Deno.lint.Plugin = {
    name: "kipvs-architecture",
    rules: {
      "function-length": {
        create: () => ({
          MethodDefinition: check,
          FunctionDeclaration: check,
          FunctionExpression: check,
          ArrowFunctionExpression: check,
        }),
      },
    },
  };
  Deno.lint.runPlugin(plugin, file, text);
  return out;
}

const SRC = new URL("../src", import.meta.url).pathname;

Deno.test("architecture: every import in src/ goes down the layers or stays in its layer", () => {
  const edges = importGraph(SRC, ["../main.ts"]);
  assert.deepEqual(upwardImports(edges), []);
});

Deno.test("architecture: no import cycles in src/ (type-only imports count)", () => {
  assert.deepEqual(importCycles(importGraph(SRC, ["../main.ts"])), []);
});

Deno.test("architecture: the checks fail on a planted upward import and a planted cycle", () => {
  const root = Deno.makeTempDirSync();
  try {
    for (const dir of ["net", "plan", "diag"]) Deno.mkdirSync(`${root}/${dir}`);
    Deno.writeTextFileSync(`${root}/plan/plan.ts`, `export const x = 1;\n`);
    Deno.writeTextFileSync(
      `${root}/net/ip.ts`,
      `/** import { no } from "../cli/x.ts" (a comment) */\n` +
        `import {\n  x,\n} from "../plan/plan.ts";\nexport const y = x;\n`,
    );
    Deno.writeTextFileSync(`${root}/diag/a.ts`, `export type { B } from "./b.ts";\n`);
    Deno.writeTextFileSync(`${root}/diag/b.ts`, `import type { A } from "./a.ts";\n`);
    const edges = importGraph(root);
    const problems = upwardImports(edges);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0]!, /^net\/ip\.ts:4 \(net\) imports plan\/plan\.ts \(plan\)/);
    assert.deepEqual(importCycles(edges), [["diag/a.ts", "diag/b.ts"]]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test(`architecture: no function in src/ is over ${MAX_FUNCTION_LINES} lines`, () => {
  const long: string[] = [];
  for (const file of tsFiles(SRC)) {
    long.push(...longFunctions(`src/${file}`, Deno.readTextFileSync(`${SRC}/${file}`)));
  }
  assert.deepEqual(long, [], "split these functions");
});

Deno.test("architecture: the length check finds functions, methods and arrows, not braces in text", () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join("\n");
  const text = [
    `export function long(): number {\n  let x = 0;\n${body(60)}\n  return x;\n}`,
    `class C {\n  method(): number {\n    let x = "}}}";\n${body(60)}\n    return 1;\n  }\n}`,
    `const arrow = () => {\n  const re = /[{]/;\n${body(60)}\n};`,
    `function short(): string {\n  return "{ { { not a body";\n}`,
  ].join("\n");
  assert.deepEqual(longFunctions("x.ts", text).map((l) => l.replace(/ \(.*/, "")), [
    "x.ts:1 long",
    "x.ts:66 method",
    "x.ts:131 arrow",
  ]);
});
