/**
 * Leveled logging to stderr, as aligned text for terminals or JSON lines for log collectors.
 *
 * One call is one line, whatever its message and fields hold: names, paths and error texts that
 * came from manifests, files or the API cannot forge a line or drive a terminal. The text format
 * escapes every control and invisible formatting character (`\n`, `\r`, ESC, C1 controls, U+2028,
 * bidirectional overrides, ...) in the message and in every value; the JSON format relies on
 * JSON's own escaping and stays valid JSON (a value JSON cannot encode, a cycle for instance, is
 * written as text).
 *
 * @module
 */

import { describeError, KipvsError } from "./errors.ts";

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Output formats. */
export type LogFormat = "text" | "json";

/** Key/value context attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Where log lines go; the default writes to stderr. */
export type LogSink = (line: string) => void;

/** Options of {@link Logger}. */
export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  sink?: LogSink;
  /** Fields added to every line (e.g. the subcommand). */
  fields?: LogFields;
  /** Clock, for tests. */
  now?: () => Date;
}

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
};

/** A leveled logger. `with()` returns a child that adds fields to every line. */
export class Logger {
  #rank: number;
  #format: LogFormat;
  #sink: LogSink;
  #fields: LogFields;
  #now: () => Date;

  constructor(options: LoggerOptions = {}) {
    this.#rank = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#format = options.format ?? "text";
    this.#sink = options.sink ?? stderrSink;
    this.#fields = options.fields ?? {};
    this.#now = options.now ?? (() => new Date());
  }

  /** The current level. */
  get level(): LogLevel {
    return LOG_LEVELS[this.#rank] ?? "info";
  }

  /** A logger writing to the same place with extra fields on every line. */
  with(fields: LogFields): Logger {
    return new Logger({
      level: this.level,
      format: this.#format,
      sink: this.#sink,
      fields: { ...this.#fields, ...fields },
      now: this.#now,
    });
  }

  /** Whether lines of this level are written (to skip building expensive fields). */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  error(msg: string, fields?: LogFields): void {
    this.#log("error", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log("warn", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log("info", msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.#log("debug", msg, fields);
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const all = { ...this.#fields, ...fields };
    const ts = this.#now().toISOString();
    if (this.#format === "json") {
      const out: Record<string, unknown> = { ts, level, msg };
      for (const [k, v] of Object.entries(all)) out[k] = jsonValue(v);
      this.#sink(jsonLine(out));
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${escapeText(msg)}`;
    for (const [k, v] of Object.entries(all)) line += ` ${escapeText(k)}=${textValue(v)}`;
    this.#sink(line);
  }
}

/**
 * Characters a text log line never holds as they are: C0 controls and DEL, C1 controls (U+009B
 * starts an escape sequence on some terminals), the line and paragraph separators, invisible
 * formatting (zero-width characters, bidirectional embeddings, overrides and isolates, which can
 * make a line read differently from what it holds), and lone surrogates.
 */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `s` with every character of {@link UNSAFE} written as an escape (`\n`, `\r`, `\t`, `\u001b`,
 * `\u202e`): one line, shown as it is held.
 */
export function escapeText(s: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(s)) return s;
  return s.replace(
    UNSAFE,
    (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function jsonValue(v: unknown): unknown {
  if (v instanceof KipvsError) return { code: v.code, message: describeError(v), ...v.details };
  if (v instanceof Error) return describeError(v);
  if (typeof v === "bigint") return v.toString();
  return v;
}

function textValue(v: unknown): string {
  if (v instanceof KipvsError) return quote(`[${v.code}] ${describeError(v)}`);
  if (v instanceof Error) return quote(describeError(v));
  if (typeof v === "string") return quote(v);
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return v.toString();
  return escapeText(typeof v === "object" && v !== null ? stringify(v) : String(v));
}

function quote(s: string): string {
  return /^[\w./:@,+-]+$/.test(s) ? s : escapeText(JSON.stringify(s));
}

const bigints = (_k: string, x: unknown) => typeof x === "bigint" ? x.toString() : x;

/** JSON.stringify that never throws: bigints as strings; a cycle or a throwing toJSON as text. */
function stringify(v: unknown): string {
  try {
    return JSON.stringify(v, bigints) ?? "null";
  } catch (err) {
    return JSON.stringify(`<cannot encode: ${describeError(err)}>`);
  }
}

/** One JSON line; a field JSON cannot encode becomes a text saying why, the rest stays as is. */
function jsonLine(out: Record<string, unknown>): string {
  try {
    return JSON.stringify(out, bigints);
  } catch {
    const safe: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(out)) safe[k] = JSON.parse(stringify(v));
    return JSON.stringify(safe);
  }
}

/** Parses a `--log-level` value. */
export function parseLogLevel(s: string): LogLevel | undefined {
  return (LOG_LEVELS as readonly string[]).includes(s) ? s as LogLevel : undefined;
}
