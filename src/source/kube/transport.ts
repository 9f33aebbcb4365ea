/**
 * HTTP to the API server. Normally Deno's fetch over a `Deno.createHttpClient` that carries the
 * CA and the client certificate; with `insecure-skip-tls-verify`, which Deno's fetch cannot do,
 * `node:https` with `rejectUnauthorized: false` (still with the client certificate).
 *
 * @module
 */

import type Https from "node:https";
import type { IncomingMessage } from "node:http";
import type { ApiConnection } from "./connection.ts";

/** One request. */
export interface HttpRequest {
  /** HTTP method. */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Request headers. */
  headers: Record<string, string>;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Sends requests to one API server; the response body streams. */
export interface Transport {
  /** Sends a request; resolves with the response once its headers are in. */
  send(req: HttpRequest): Promise<Response>;
  /** Closes pooled connections. */
  close(): void;
}

/** The transport for a connection. */
export function createTransport(conn: ApiConnection): Transport {
  return conn.insecureSkipTLSVerify && conn.server.startsWith("https:")
    ? new InsecureTransport(conn)
    : new FetchTransport(conn);
}

/** Deno's fetch with the connection's CA and client certificate. */
export class FetchTransport implements Transport {
  #client: Deno.HttpClient;
  #closed = false;

  /** A fetch client with the connection's CA and client certificate. */
  constructor(conn: ApiConnection) {
    this.#client = conn.clientCert !== undefined && conn.clientKey !== undefined
      ? Deno.createHttpClient({ caCerts: conn.caCerts, cert: conn.clientCert, key: conn.clientKey })
      : Deno.createHttpClient({ caCerts: conn.caCerts });
  }

  /** Sends a request with Deno's fetch. */
  send(req: HttpRequest): Promise<Response> {
    return fetch(req.url, {
      method: req.method,
      headers: req.headers,
      signal: req.signal,
      client: this.#client,
    });
  }

  close(): void {
    if (this.#closed) return; // closing twice throws BadResource
    this.#closed = true;
    this.#client.close();
  }
}

/**
 * `node:https` without server verification (kubeconfig `insecure-skip-tls-verify: true`). The
 * module is loaded on the first request: Deno's node:https (node:http, node:net, node:tls with
 * it) takes seconds to load in a small VM, and only this rare setting needs it.
 */
export class InsecureTransport implements Transport {
  #conn: ApiConnection;
  #https?: Promise<{ https: typeof Https; agent: Https.Agent }>;

  /** A transport with the connection's client certificate and no verification. */
  constructor(conn: ApiConnection) {
    this.#conn = conn;
  }

  #load(): Promise<{ https: typeof Https; agent: Https.Agent }> {
    return this.#https ??= import("node:https").then(({ default: https }) => ({
      https,
      agent: new https.Agent({
        keepAlive: true,
        rejectUnauthorized: false,
        // An explicit (empty) trust list: without one, node:tls loads the system's roots,
        // which Deno allows only with --allow-sys=ca, a permission kipvs does not otherwise need.
        ca: [],
        cert: this.#conn.clientCert,
        key: this.#conn.clientKey,
      }),
    }));
  }

  /** Sends a request with node:https. */
  async send(req: HttpRequest): Promise<Response> {
    const { https, agent } = await this.#load();
    return new Promise((resolve, reject) => {
      const r = https.request(req.url, {
        method: req.method,
        headers: req.headers,
        agent,
        signal: req.signal,
      }, (res: IncomingMessage) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
        }
        const body = ReadableStream.from(res as AsyncIterable<Uint8Array>);
        resolve(
          new Response(body, { status: res.statusCode, statusText: res.statusMessage, headers }),
        );
      });
      r.on("error", reject);
      r.end();
    });
  }

  close(): void {
    this.#https?.then(({ agent }) => agent.destroy(), () => {});
  }
}
