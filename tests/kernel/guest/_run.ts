/**
 * Helpers for guest-side Deno tests: run a program (never through a shell) and get its
 * output, and sorted non-empty lines for order-free comparisons.
 *
 * @module
 */

/** Runs `program args...`, throws with its stderr when it fails, returns its stdout. */
export async function run(program: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`${program} ${args.join(" ")} exited ${out.code}: ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/** Non-empty lines, sorted. */
export function sortedLines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "").sort();
}

/** `ipvsadm -Sn` as sorted lines. */
export async function ipvsadmSave(): Promise<string[]> {
  return sortedLines(await run("ipvsadm", "-Sn"));
}
