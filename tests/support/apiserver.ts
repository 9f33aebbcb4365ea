/**
 * A protocol-faithful Kubernetes API server for tests, over real HTTP or HTTPS. It serves
 * Services, EndpointSlices and Nodes the way kube-apiserver does for list and watch:
 *
 * - one global resourceVersion; lists carry it, and `limit`/`continue` page through a snapshot
 *   pinned at the first page (a token older than the last compaction: 410 Expired);
 * - label and field selectors; watches stream NDJSON events flushed one by one, from a
 *   resourceVersion (too old: one ERROR event with a 410 Status, then the end) or, for "" and
 *   "0", the current objects as ADDED first; BOOKMARKs only with allowWatchBookmarks;
 *   `timeoutSeconds` ends the watch cleanly;
 * - errors as `kind: Status` with code and reason; bearer-token and client-certificate
 *   authentication (401) and an authorizer (403);
 * - faults on demand: dropped connections, 500s, 429s with Retry-After, silent watches, and
 *   compaction of the event log.
 *
 * Tests change objects with {@link TestApiServer.apply} / `delete` (or over HTTP with POST, PUT
 * and DELETE, which is what kubectl and curl use).
 *
 * @module
 */

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { discovery } from "./_discovery.ts";
import { SelectorError } from "./_selectors.ts";
import {
  ApiStore,
  apiVersion,
  listItemText,
  type Obj,
  objectMatcher,
  RESOURCES,
  StoreError,
} from "./_store.ts";
import { type OpenWatch, openWatch } from "./_watch.ts";
import { type Fault, FaultQueue } from "./_faults.ts";
import {
  defaultReason,
  parseRoute,
  readBody,
  sendJson,
  sendJsonText,
  sendStatus,
  type Verb,
  verbOf,
} from "./_http.ts";

export type { Obj } from "./_store.ts";
export type { Verb } from "./_http.ts";
export type { Fault, FaultMatch } from "./_faults.ts";

/** One request, as the server saw it. */
export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  verb?: Verb;
  resource?: string;
  user?: string;
  status: number;
}

/** Options of {@link TestApiServer.start}. */
export interface TestApiServerOptions {
  /** Serve HTTPS with this certificate; `ca` verifies client certificates. */
  tls?: { cert: string; key: string; ca?: string };
  /** Accepted bearer tokens and their users. With tokens or clientCerts, anonymity gets 401. */
  tokens?: Record<string, string>;
  /** Accept client certificates signed by `tls.ca` (the user is the subject's CN). */
  clientCerts?: boolean;
  /** Decides 403s (default: every authenticated user may do everything). */
  authorize?: (r: { user: string; verb: Verb; resource: string }) => boolean;
  /** Interval of BOOKMARK events on watches that asked for them (default 60 s). */
  bookmarkIntervalMs?: number;
  /** How long a watch without timeoutSeconds lasts (default 30 min). */
  defaultWatchTimeoutMs?: number;
  hostname?: string;
  port?: number;
}

/** The test API server. */
export class TestApiServer {
  /** Objects, event log and resourceVersion. */
  readonly store = new ApiStore();
  /** Every request so far. */
  readonly requests: RequestRecord[] = [];
  #o: TestApiServerOptions;
  #server: http.Server;
  #sockets = new Set<Socket>();
  #watches = new Set<OpenWatch>();
  #faults = new FaultQueue();
  /** Called with each request before it is served (tests use it to act between pages). */
  beforeRequest?: (r: RequestRecord) => void;
  #url = "";

  private constructor(o: TestApiServerOptions) {
    this.#o = o;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    this.#server = o.tls
      ? https.createServer({
        cert: o.tls.cert,
        key: o.tls.key,
        ca: o.tls.ca,
        requestCert: !!o.clientCerts,
        rejectUnauthorized: false, // like kube-apiserver: an unverified certificate is just no user
      }, handler)
      : http.createServer(handler);
    this.#server.on(o.tls ? "secureConnection" : "connection", (s: Socket) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
  }

  /** Starts a server on an ephemeral port of 127.0.0.1 (or the given address). */
  static async start(options: TestApiServerOptions = {}): Promise<TestApiServer> {
    const s = new TestApiServer(options);
    const host = options.hostname ?? "127.0.0.1";
    await new Promise<void>((resolve) => s.#server.listen(options.port ?? 0, host, resolve));
    const addr = s.#server.address() as { port: number };
    const h = host.includes(":") ? `[${host}]` : host;
    s.#url = `${options.tls ? "https" : "http"}://${h}:${addr.port}`;
    return s;
  }

  /** Base URL ("http://127.0.0.1:34567"). */
  get url(): string {
    return this.#url;
  }

  /** Watches open now. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Creates or replaces an object (kind is set from the resource). */
  apply(resource: string, obj: Obj): Obj {
    return this.store.apply(resource, obj);
  }

  /** Deletes an object. */
  delete(resource: string, namespace: string | undefined, name: string): Obj {
    return this.store.delete(resource, namespace, name);
  }

  /** Queues a fault for the next `times` (default 1) matching requests. */
  inject(fault: Fault): void {
    this.#faults.add(fault);
  }

  /** Drops every open watch connection (as a restarting API server or a NAT timeout would). */
  dropWatches(): void {
    for (const w of [...this.#watches]) w.drop();
  }

  /** Compacts the event log up to `upTo` (default now): older watches and tokens get 410. */
  compact(upTo?: number): void {
    this.store.compact(upTo);
  }

  /** Requests of one verb (and resource). */
  requestsOf(verb: Verb, resource?: string): RequestRecord[] {
    return this.requests.filter((r) => r.verb === verb && (!resource || r.resource === resource));
  }

  /** Stops the server and drops every connection. */
  async close(): Promise<void> {
    for (const w of [...this.#watches]) w.end();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const rec: RequestRecord = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    };
    this.requests.push(rec);
    const fail = (
      code: number,
      reason: string,
      message: string,
      headers: Record<string, string> = {},
    ) => {
      rec.status = code;
      sendStatus(res, code, reason, message, headers);
    };
    const doc = req.method === "GET"
      ? discovery(url.pathname, this.#url.replace(/^\w+:\/\//, ""))
      : undefined;
    const route = doc === undefined ? parseRoute(url.pathname) : undefined;
    if (route) {
      rec.resource = route.resource;
      rec.verb = verbOf(req.method ?? "GET", route.name, url.searchParams);
    }
    this.beforeRequest?.(rec);
    const user = this.#authenticate(req);
    rec.user = user;
    if (user === undefined) return fail(401, "Unauthorized", "Unauthorized");
    if (doc !== undefined) return sendJson(res, rec.status = 200, doc);
    if (!route || !rec.verb) {
      return fail(404, "NotFound", "the server could not find the requested resource");
    }
    const resource = RESOURCES.find((r) =>
      r.plural === route.resource && apiVersion(r) === route.gv
    );
    if (!resource) return fail(404, "NotFound", "the server could not find the requested resource");
    const verb = rec.verb;
    if (this.#o.authorize && !this.#o.authorize({ user, verb, resource: resource.plural })) {
      const scope = route.namespace
        ? `in the namespace "${route.namespace}"`
        : "at the cluster scope";
      return fail(
        403,
        "Forbidden",
        `${resource.plural} is forbidden: User "${user}" cannot ${verb} resource "${resource.plural}" ` +
          `in API group "${resource.group}" ${scope}`,
      );
    }
    const fault = this.#faults.take(verb, resource.plural);
    if (fault?.kind === "status") {
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined
        ? {}
        : { "Retry-After": String(fault.retryAfterSeconds) };
      const reason = fault.reason ?? defaultReason(fault.code);
      return fail(fault.code, reason, fault.message ?? `injected ${fault.code} ${reason}`, headers);
    }
    if (fault && verb !== "watch") {
      rec.status = -1;
      if (fault.kind === "drop") req.socket.destroy();
      if (fault.kind === "end") sendJson(res, rec.status = 200, {});
      return; // a stalled request is never answered
    }
    try {
      if (verb === "watch") {
        rec.status = 200;
        return this.#watch(res, resource, route.namespace, url.searchParams, fault);
      }
      if (verb === "list") {
        const q = url.searchParams;
        const page = this.store.list(resource.plural, {
          namespace: route.namespace,
          labelSelector: q.get("labelSelector") ?? "",
          fieldSelector: q.get("fieldSelector") ?? "",
          limit: Number(q.get("limit") ?? 0),
          continue: q.get("continue") ?? undefined,
          resourceVersion: q.get("resourceVersion") ?? "",
        });
        const head = JSON.stringify({
          kind: `${resource.kind}List`,
          apiVersion: apiVersion(resource),
          metadata: {
            resourceVersion: String(page.rv),
            ...(page.continue ? { continue: page.continue } : {}),
            ...(page.remainingItemCount ? { remainingItemCount: page.remainingItemCount } : {}),
          },
        });
        const items = page.items.map(listItemText).join(",");
        return sendJsonText(res, rec.status = 200, `${head.slice(0, -1)},"items":[${items}]}`);
      }
      if (verb === "get") {
        return sendJson(
          res,
          rec.status = 200,
          this.store.get(resource.plural, route.namespace, route.name!),
        );
      }
      if (verb === "delete") {
        return sendJson(
          res,
          rec.status = 200,
          this.store.delete(resource.plural, route.namespace, route.name!),
        );
      }
      readBody(req).then((body) => {
        try {
          const obj = JSON.parse(body) as Obj;
          if (route.namespace && obj.metadata) obj.metadata.namespace ??= route.namespace;
          if (verb === "create") {
            sendJson(res, rec.status = 201, this.store.create(resource.plural, obj));
          } else sendJson(res, rec.status = 200, this.store.update(resource.plural, obj));
        } catch (err) {
          this.#error(err, fail);
        }
      });
    } catch (err) {
      this.#error(err, fail);
    }
  }

  #error(err: unknown, fail: (code: number, reason: string, message: string) => void): void {
    if (err instanceof StoreError) return fail(err.code, err.reason, err.message);
    if (err instanceof SelectorError) return fail(400, "BadRequest", err.message);
    if (err instanceof SyntaxError) return fail(400, "BadRequest", `invalid JSON: ${err.message}`);
    fail(500, "InternalError", `Internal error occurred: ${(err as Error).message}`);
  }

  #watch(
    res: ServerResponse,
    resource: (typeof RESOURCES)[number],
    namespace: string | undefined,
    q: URLSearchParams,
    fault: Fault | undefined,
  ): void {
    const match = objectMatcher({
      namespace,
      labelSelector: q.get("labelSelector") ?? "",
      fieldSelector: q.get("fieldSelector") ?? "",
    });
    const rv = q.get("resourceVersion") ?? "";
    if (rv !== "" && !/^\d+$/.test(rv)) {
      return sendStatus(res, 400, "BadRequest", `invalid resourceVersion "${rv}"`);
    }
    if (rv !== "" && Number(rv) > this.store.resourceVersion) {
      return sendStatus(
        res,
        504,
        "Timeout",
        `Too large resource version: ${rv}, current: ${this.store.resourceVersion}`,
      );
    }
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? 0);
    let over = false;
    let handle: OpenWatch | undefined = undefined;
    handle = openWatch({
      store: this.store,
      res,
      resource,
      match,
      resourceVersion: rv,
      bookmarks: q.get("allowWatchBookmarks") === "true",
      bookmarkIntervalMs: this.#o.bookmarkIntervalMs ?? 60_000,
      timeoutMs: timeoutSeconds > 0
        ? timeoutSeconds * 1000
        : this.#o.defaultWatchTimeoutMs ?? 1_800_000,
      misbehave: fault?.kind === "drop"
        ? { dropAfterEvents: fault.afterEvents ?? 0 }
        : fault?.kind === "stall"
        ? { stall: true }
        : fault?.kind === "end"
        ? { endAtOnce: true }
        : undefined,
      onEnd: () => {
        over = true;
        if (handle) this.#watches.delete(handle);
      },
    });
    if (!over) this.#watches.add(handle);
  }

  /** The user of a request; undefined: unauthenticated (401). */
  #authenticate(req: IncomingMessage): string | undefined {
    const o = this.#o;
    if (!o.tokens && !o.clientCerts) return "system:anonymous";
    const sock = req.socket as TLSSocket;
    if (o.clientCerts && sock.authorized) {
      const cn = sock.getPeerCertificate?.()?.subject?.CN;
      if (typeof cn === "string" && cn) return cn;
    }
    const auth = req.headers.authorization ?? "";
    const m = auth.match(/^Bearer\s+(\S+)$/i);
    if (m && o.tokens) return o.tokens[m[1]!];
    return undefined;
  }
}
