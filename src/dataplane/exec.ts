/**
 * Running the external programs kipvs depends on (`ipset`, `iptables-restore`, `modprobe`, ...)
 * behind a narrow interface. Arguments are always an array: nothing reaches a shell.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";

/** What a finished program left behind. */
export interface ExecResult {
  /** Exit status; -1 when the program could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of one program run. */
export interface ExecOptions {
  /** Bytes or text written to the program's standard input. */
  stdin?: string | Uint8Array;
  /** Kill the program after this many milliseconds (default 60 s). */
  timeoutMs?: number;
}

/** Runs a program with an argument array. */
export interface Exec {
  run(program: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

const decoder = new TextDecoder();

/** Runs programs with `Deno.Command`; a program that cannot be started gives code -1. */
export class SystemExec implements Exec {
  async run(
    program: string,
    args: readonly string[],
    options: ExecOptions = {},
  ): Promise<ExecResult> {
    const signal = AbortSignal.timeout(options.timeoutMs ?? 60_000);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: [...args],
        stdin: options.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        signal,
      }).spawn();
    } catch (err) {
      return { code: -1, stdout: "", stderr: `cannot run ${program}: ${(err as Error).message}` };
    }
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      const data = typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin;
      // A program that exits early closes its stdin; its exit status tells what went wrong.
      await w.write(data).catch(() => {});
      await w.close().catch(() => {});
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }
}

/** An {@link Exec} that counts the programs it runs, for the "processes per sync" figures. */
export class CountingExec implements Exec {
  #inner: Exec;
  #started = 0;

  constructor(inner: Exec) {
    this.#inner = inner;
  }

  /** Programs run so far (started or not). */
  get started(): number {
    return this.#started;
  }

  run(program: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    this.#started++;
    return this.#inner.run(program, args, options);
  }
}

/** Runs a program and throws an `exec` error naming it when it fails. */
export async function runChecked(
  exec: Exec,
  program: string,
  args: readonly string[],
  options?: ExecOptions,
): Promise<ExecResult> {
  const res = await exec.run(program, args, options);
  if (res.code !== 0) {
    throw new KipvsError(
      "exec",
      `${program} ${args.join(" ")} exited with ${res.code}: ${res.stderr.trim() || "(no output)"}`,
      { details: { program, code: res.code } },
    );
  }
  return res;
}

/** One call seen by {@link FakeExec}. */
export interface ExecCall {
  program: string;
  args: string[];
  stdin?: string;
}

/** A scripted answer of {@link FakeExec}. */
export type FakeAnswer = (call: ExecCall) => Partial<ExecResult> | undefined;

/** Records calls and answers from a script, for unit tests of code that runs programs. */
export class FakeExec implements Exec {
  readonly calls: ExecCall[] = [];
  #answer: FakeAnswer;

  constructor(answer: FakeAnswer = () => undefined) {
    this.#answer = answer;
  }

  run(program: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const stdin = options.stdin === undefined
      ? undefined
      : typeof options.stdin === "string"
      ? options.stdin
      : decoder.decode(options.stdin);
    const call: ExecCall = { program, args: [...args], ...(stdin === undefined ? {} : { stdin }) };
    this.calls.push(call);
    const a = this.#answer(call) ?? {};
    return Promise.resolve({ code: a.code ?? 0, stdout: a.stdout ?? "", stderr: a.stderr ?? "" });
  }
}
