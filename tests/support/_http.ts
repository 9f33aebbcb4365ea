/**
 * HTTP plumbing of the test API server: routes of the API's paths, verbs, and answers as JSON
 * and as `kind: Status`.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";

/** Verbs of requests. */
export type Verb = "list" | "watch" | "get" | "create" | "update" | "delete";

/** Where a request goes. */
export interface Route {
  gv: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** `/api/v1/[namespaces/NS/]PLURAL[/NAME]` and `/apis/GROUP/VERSION/...`. */
export function parseRoute(path: string): Route | undefined {
  const parts = path.split("/").filter((p) => p !== "");
  let gv: string;
  let rest: string[];
  if (parts[0] === "api" && parts[1] === "v1") {
    gv = "v1";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    gv = `${parts[1]}/${parts[2]}`;
    rest = parts.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 2) return undefined;
  return { gv, resource: rest[0]!, namespace, name: rest[1] };
}

export function verbOf(
  method: string,
  name: string | undefined,
  q: URLSearchParams,
): Verb | undefined {
  if (method === "GET") {
    if (name) return "get";
    const w = q.get("watch");
    return w === "1" || w === "true" ? "watch" : "list";
  }
  if (method === "POST" && !name) return "create";
  if (method === "PUT" && name) return "update";
  if (method === "DELETE" && name) return "delete";
  return undefined;
}

export function defaultReason(code: number): string {
  return ({
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
  } as Record<number, string>)[code] ?? "Unknown";
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  sendJsonText(res, code, JSON.stringify(body));
}

/** Answers with `text`, JSON already. */
export function sendJsonText(res: ServerResponse, code: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": bytes.length });
  res.end(bytes);
}

/** Answers with a `kind: Status` body, as the API server does for every error. */
export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const retry = headers["Retry-After"];
  const body = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(retry ? { details: { retryAfterSeconds: Number(retry) } } : {}),
    code,
  };
  const text = JSON.stringify(body);
  res.writeHead(code, {
    ...headers,
    "Content-Type": "application/json",
    "Content-Length": byteLength(text),
  });
  res.end(text);
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (s += c));
    req.on("end", () => resolve(s));
  });
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}
