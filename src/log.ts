/**
 * Leveled logging to stderr, as aligned text for terminals or JSON lines for log collectors.
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
      this.#sink(JSON.stringify(out));
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
    for (const [k, v] of Object.entries(all)) line += ` ${k}=${textValue(v)}`;
    this.#sink(line);
  }
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
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

function quote(s: string): string {
  return /^[\w./:@,+-]+$/.test(s) ? s : JSON.stringify(s);
}

/** Parses a `--log-level` value. */
export function parseLogLevel(s: string): LogLevel | undefined {
  return (LOG_LEVELS as readonly string[]).includes(s) ? s as LogLevel : undefined;
}
