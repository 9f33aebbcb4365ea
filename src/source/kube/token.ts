/**
 * Bearer tokens: a fixed one from a kubeconfig, or one read from a file and re-read as it
 * rotates (projected service-account tokens are replaced on disk about hourly).
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** Where the bearer token of each request comes from. */
export interface TokenSource {
  /** The token to send now. */
  token(): Promise<string>;
  /** Re-reads the token after the server refused it; true when it changed. */
  refresh(): Promise<boolean>;
  /** For logs: "inline token" or the file's path. */
  readonly describe: string;
}

/** A token given inline (kubeconfig `token`). */
export class StaticToken implements TokenSource {
  readonly describe = "inline token";
  #token: string;
  /** A fixed token. */
  constructor(token: string) {
    this.#token = token;
  }
  token(): Promise<string> {
    return Promise.resolve(this.#token);
  }
  refresh(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

/** Options of {@link FileToken}. */
export interface FileTokenOptions {
  /** The token file. */
  path: string;
  /** Re-read the file when the cached token is older than this (default 60 s, like client-go). */
  periodMs?: number;
  /** Reads a file (default `Deno.readTextFile`). */
  readTextFile?: (path: string) => Promise<string>;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/**
 * A token read from a file (kubeconfig `tokenFile`, the in-cluster service-account token),
 * cached for a period and re-read after it, or at once when the server answers 401. When a
 * re-read fails the last good token is kept.
 */
export class FileToken implements TokenSource {
  readonly describe: string;
  #path: string;
  #periodMs: number;
  #read: (path: string) => Promise<string>;
  #now: () => number;
  #token = "";
  #readAt = -Infinity;

  /** A token read from `options.path` on first use. */
  constructor(options: FileTokenOptions) {
    this.#path = options.path;
    this.describe = options.path;
    this.#periodMs = options.periodMs ?? 60_000;
    this.#read = options.readTextFile ?? Deno.readTextFile;
    this.#now = options.now ?? Date.now;
  }

  async token(): Promise<string> {
    if (this.#now() - this.#readAt >= this.#periodMs) await this.#load(this.#token !== "");
    return this.#token;
  }

  async refresh(): Promise<boolean> {
    const before = this.#token;
    await this.#load(before !== "");
    return this.#token !== before;
  }

  /** Reads the file; with `keepOld`, a failed read keeps the previous token. */
  async #load(keepOld: boolean): Promise<void> {
    let text: string;
    try {
      text = await this.#read(this.#path);
    } catch (err) {
      if (keepOld) return;
      throw new KipvsError("io", `cannot read token file ${this.#path}`, { cause: err });
    }
    const token = text.trim();
    if (token === "") {
      if (keepOld) return;
      throw new KipvsError("invalid-config", `token file ${this.#path} is empty`);
    }
    this.#token = token;
    this.#readAt = this.#now();
  }
}
