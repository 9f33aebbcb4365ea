/**
 * A small Kubernetes API client: paged lists and watches of a collection, over a
 * {@link Transport}. Every failure is a "kube-api" {@link KipvsError} that names the server,
 * the request, the HTTP status and the reason (see `api_error.ts`).
 *
 * @module
 */

import { VERSION } from "../../version.ts";
import { linkedAbort } from "./abort.ts";
import { apiError, parseRetryAfter, statusBody } from "./api_error.ts";
import type { ApiConnection } from "./connection.ts";
import { readLines, readText } from "./body.ts";
import { apiVersionOf, collectionPath, type ResourceType } from "./resources.ts";
import { createTransport, type Transport } from "./transport.ts";

/** An object as the API sent it: JSON with at least `metadata.name`. */
export interface RawObject {
  /** Set on watch events; filled in from the resource for list items. */
  kind?: string;
  /** Set on watch events; filled in from the resource for list items. */
  apiVersion?: string;
  /** The metadata kipvs reads; the rest is passed through. */
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [field: string]: unknown;
  };
  /** Every other field, as sent. */
  [field: string]: unknown;
}

/** Selectors shared by lists and watches. */
export interface SelectorOptions {
  /** Label selector, like `!service.kubernetes.io/headless`. */
  labelSelector?: string;
  /** Field selector, like `metadata.name=node-1`. */
  fieldSelector?: string;
}

/** Options of {@link KubeClient.list}. */
export interface ListOptions extends SelectorOptions {
  /** Page size; 0 or undefined for everything at once. */
  limit?: number;
  /** The continue token of the previous page. */
  continue?: string;
  /**
   * "0": any version the server has at hand (its watch cache; cheap); unset: the latest
   * (a consistent read). Ignored with `continue`.
   */
  resourceVersion?: "0";
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** One page of a list. */
export interface ListPage {
  /** The collection's resourceVersion at the time of the (first page of the) list. */
  resourceVersion: string;
  /** Token for the next page; undefined on the last page. */
  continue?: string;
  /** The objects, with `kind` and `apiVersion` filled in. */
  items: RawObject[];
}

/** Options of {@link KubeClient.watch}. */
export interface WatchOptions extends SelectorOptions {
  /** Start after this resourceVersion ("" or "0": send the current objects as ADDED first). */
  resourceVersion: string;
  /** Ask for BOOKMARK events. */
  allowWatchBookmarks?: boolean;
  /** Ask the server to end the watch after this many seconds. */
  timeoutSeconds?: number;
  /** Aborts the watch (its stream then throws). */
  signal?: AbortSignal;
}

/** One watch event. */
export type WatchEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: RawObject }
  | { type: "BOOKMARK"; resourceVersion: string }
  | { type: "ERROR"; code?: number; reason?: string; message: string };

/** Options of {@link KubeClient}. */
export interface KubeClientOptions {
  /** Where the server is and how to authenticate. */
  connection: ApiConnection;
  /** Default: {@link createTransport} of the connection. */
  transport?: Transport;
  /** Bound of one list request, ms (default 60 s). Watches are bounded by the caller. */
  listTimeoutMs?: number;
}

/** Lists and watches collections of one API server. */
export class KubeClient {
  #conn: ApiConnection;
  #transport: Transport;
  #listTimeoutMs: number;

  /** A client of `options.connection`. */
  constructor(options: KubeClientOptions) {
    this.#conn = options.connection;
    this.#transport = options.transport ?? createTransport(options.connection);
    this.#listTimeoutMs = options.listTimeoutMs ?? 60_000;
  }

  /** The API server's base URL. */
  get server(): string {
    return this.#conn.server;
  }

  /** Reads one page of a collection across all namespaces. */
  async list(resource: ResourceType, options: ListOptions = {}): Promise<ListPage> {
    const query = selectorQuery(options);
    if (options.limit) query.set("limit", String(options.limit));
    if (options.continue) query.set("continue", options.continue);
    else if (options.resourceVersion) query.set("resourceVersion", options.resourceVersion);
    const path = withQuery(collectionPath(resource), query);
    const link = linkedAbort({ parent: options.signal, timeoutMs: this.#listTimeoutMs });
    let body: unknown;
    try {
      const res = await this.#request(path, link.signal);
      let text: string;
      try {
        text = await readText(res.body, link.signal);
      } catch (err) {
        throw this.#fail(path, { message: "reading the list failed", cause: err, status: 200 });
      }
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw this.#fail(path, { message: "list response is not JSON", cause: err, status: 200 });
      }
    } finally {
      link.dispose();
    }
    const b = body as { metadata?: Record<string, unknown>; items?: unknown };
    const rv = b?.metadata?.resourceVersion;
    if (typeof rv !== "string" || !Array.isArray(b.items)) {
      throw this.#fail(path, {
        message: "list response has no metadata.resourceVersion or items",
        status: 200,
      });
    }
    const apiVersion = apiVersionOf(resource);
    const items: RawObject[] = [];
    for (const item of b.items) {
      if (!isObject(item)) {
        throw this.#fail(path, { message: "list item without metadata.name", status: 200 });
      }
      // Items of a list carry no kind; fill it in so objects look the same as watch events'.
      // (In place: the parsed page is ours, and a copy of each object is garbage at 50,000.)
      item.kind ??= resource.kind;
      item.apiVersion ??= apiVersion;
      items.push(item);
    }
    const cont = b.metadata?.continue;
    return {
      resourceVersion: rv,
      items,
      continue: typeof cont === "string" && cont ? cont : undefined,
    };
  }

  /**
   * Opens a watch; resolves once the server accepted it (status 200) with the stream of its
   * events, which ends when the server closes the watch and throws when the connection breaks.
   */
  async watch(resource: ResourceType, options: WatchOptions): Promise<AsyncGenerator<WatchEvent>> {
    const query = new URLSearchParams({ watch: "1" });
    for (const [k, v] of selectorQuery(options)) query.set(k, v);
    query.set("resourceVersion", options.resourceVersion);
    if (options.allowWatchBookmarks) query.set("allowWatchBookmarks", "true");
    if (options.timeoutSeconds) query.set("timeoutSeconds", String(options.timeoutSeconds));
    const path = withQuery(collectionPath(resource), query);
    const res = await this.#request(path, options.signal);
    if (!res.body) throw this.#fail(path, { message: "watch response has no body", status: 200 });
    return this.#events(path, res.body, options.signal);
  }

  /** Closes pooled connections (again: nothing). */
  close(): void {
    this.#transport.close();
  }

  async *#events(
    path: string,
    body: ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): AsyncGenerator<WatchEvent> {
    const lines = readLines(body, signal);
    while (true) {
      let next: IteratorResult<string>;
      try {
        next = await lines.next();
      } catch (err) {
        throw this.#fail(path, { message: "watch stream broke", cause: err });
      }
      if (next.done) return;
      yield this.#parseEvent(path, next.value);
    }
  }

  #parseEvent(path: string, line: string): WatchEvent {
    let ev: { type?: unknown; object?: unknown };
    try {
      ev = JSON.parse(line);
    } catch (err) {
      throw this.#fail(path, {
        message: `watch event is not JSON: ${line.slice(0, 80)}`,
        cause: err,
      });
    }
    const obj = ev.object;
    switch (ev.type) {
      case "ADDED":
      case "MODIFIED":
      case "DELETED":
        if (!isObject(obj)) break;
        return { type: ev.type, object: obj };
      case "BOOKMARK": {
        const rv = (obj as { metadata?: { resourceVersion?: unknown } })?.metadata?.resourceVersion;
        if (typeof rv !== "string") break;
        return { type: "BOOKMARK", resourceVersion: rv };
      }
      case "ERROR": {
        const s = statusBody(obj);
        return { type: "ERROR", code: s.code, reason: s.reason, message: s.message ?? "" };
      }
    }
    throw this.#fail(path, {
      message: `malformed watch event: ${line.slice(0, 120)}`,
      status: 200,
    });
  }

  /** GETs a path; returns the response when it is 2xx, throws the API's error otherwise. */
  async #request(path: string, signal?: AbortSignal, retried = false): Promise<Response> {
    const headers: Record<string, string> = {
      "Accept": "application/json",
      "User-Agent": `kipvs/${VERSION}`,
    };
    const cred = this.#conn.credentials;
    if (cred.kind === "bearer") headers["Authorization"] = `Bearer ${await cred.token.token()}`;
    if (cred.kind === "basic") {
      headers["Authorization"] = `Basic ${btoa(`${cred.username}:${cred.password}`)}`;
    }
    let res: Response;
    try {
      res = await this.#transport.send({
        method: "GET",
        url: this.#conn.server + path,
        headers,
        signal,
      });
    } catch (err) {
      // The transport's own reason, once: the cause chain would repeat the URL and the path.
      throw this.#fail(path, { message: `cannot reach the server: ${networkReason(err)}` });
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    // A rotated service-account token: read the file again and retry once.
    if (res.status === 401 && !retried && cred.kind === "bearer" && await cred.token.refresh()) {
      return this.#request(path, signal, true);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const s = statusBody(parsed);
    throw this.#fail(path, {
      status: res.status,
      reason: s.reason ?? (res.statusText || undefined),
      message: s.message ?? (text.trim().slice(0, 200) || "no message"),
      retryAfterSeconds: parseRetryAfter(res.headers.get("retry-after")),
    });
  }

  #fail(
    path: string,
    f: {
      message: string;
      status?: number;
      reason?: string;
      retryAfterSeconds?: number;
      cause?: unknown;
    },
  ) {
    return apiError({ server: this.#conn.server, method: "GET", path, ...f });
  }
}

function selectorQuery(o: SelectorOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (o.labelSelector) q.set("labelSelector", o.labelSelector);
  if (o.fieldSelector) q.set("fieldSelector", o.fieldSelector);
  return q;
}

function withQuery(path: string, q: URLSearchParams): string {
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function isObject(v: unknown): v is RawObject {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const meta = (v as { metadata?: unknown }).metadata;
  return typeof meta === "object" && meta !== null &&
    typeof (meta as { name?: unknown }).name === "string";
}

/**
 * The innermost reason of a transport failure, without the URL that the request already names:
 * Deno's "fetch failed" wraps "error sending request for url (URL): client error (Connect):
 * tcp connect error: Connection refused (os error 111)", which becomes everything after the URL.
 */
export function networkReason(err: unknown): string {
  let cur = err;
  let msg = String(err);
  for (let depth = 0; depth < 8 && cur !== undefined && cur !== null; depth++) {
    if (!(cur instanceof Error)) {
      msg = String(cur);
      break;
    }
    msg = cur.message;
    cur = cur.cause;
  }
  return msg.replace(/^error sending request for url \([^)]*\):\s*/, "") || "unknown error";
}
