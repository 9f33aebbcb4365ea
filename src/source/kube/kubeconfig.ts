/**
 * kubeconfig files, as kubectl reads them: one or more files merged (the first file to define
 * a name wins, as does the first non-empty `current-context`), a context picked by name or
 * `current-context`, and its cluster and user turned into an {@link ApiConnection}. Relative
 * paths are relative to the file that holds them. Credential plugins (`exec`,
 * `auth-provider`) are refused with an error that names the user: a node agent should not run
 * programs named in a file.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { CORE_SCHEMA, load } from "js-yaml";
import { KipvsError } from "../../errors.ts";
import {
  type ApiConnection,
  type Credentials,
  normaliseServer,
  serverProblem,
} from "./connection.ts";
import { FileToken, StaticToken } from "./token.ts";

/** Options of {@link loadKubeconfig}. */
export interface KubeconfigOptions {
  /** kubeconfig files, merged in order (`--kubeconfig` gives one; KUBECONFIG may give several). */
  paths: readonly string[];
  /** Use this context instead of `current-context`. */
  context?: string;
  /** Replace the cluster's server (`--master`). */
  master?: string;
  /** Reads a file (default `Deno.readTextFile`). */
  readTextFile?: (path: string) => Promise<string>;
  /** How long a token read from `tokenFile` is used before re-reading it (default 60 s). */
  tokenPeriodMs?: number;
}

/** A named entry and the file it came from. */
interface Entry {
  name: string;
  body: Record<string, unknown>;
  file: string;
  /** "clusters[0].cluster", for messages. */
  where: string;
}

interface Merged {
  clusters: Map<string, Entry>;
  users: Map<string, Entry>;
  contexts: Map<string, Entry>;
  currentContext?: { name: string; file: string };
}

/** Reads and merges kubeconfig files and resolves the chosen context into a connection. */
export async function loadKubeconfig(options: KubeconfigOptions): Promise<ApiConnection> {
  const read = options.readTextFile ?? Deno.readTextFile;
  if (options.paths.length === 0) {
    throw new KipvsError("invalid-config", "no kubeconfig file given");
  }
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const file of options.paths) {
    let text: string;
    try {
      text = await read(file);
    } catch (err) {
      throw new KipvsError("io", `cannot read kubeconfig ${file}`, { cause: err });
    }
    mergeFile(merged, file, text);
  }
  const files = options.paths.join(":");
  const { contextName, cluster, user } = chosenContext(merged, files, options.context);
  const tls = await clusterTls(cluster, read);
  const certs = user ? await clientCertificate(user, read) : {};
  const server = normaliseServer(options.master ?? requiredStr(cluster, "server"));
  const problem = serverProblem(server);
  if (problem) {
    const field = options.master ? "--master" : `${cluster.where}.server`;
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${cluster.file}: ${field} "${server}" ${problem}`,
    );
  }
  return {
    server,
    ...tls,
    ...certs,
    credentials: user ? credentials(user, options.tokenPeriodMs, read) : { kind: "none" },
    origin: `kubeconfig ${files} context ${contextName}`,
  };
}

/** The context named (or the current one), with the cluster and user it names. */
function chosenContext(
  merged: Merged,
  files: string,
  named: string | undefined,
): { contextName: string; cluster: Entry; user?: Entry } {
  const contextName = named ?? merged.currentContext?.name;
  if (!contextName) {
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${files} has no current-context and no context was named`,
    );
  }
  const ctx = merged.contexts.get(contextName);
  if (!ctx) {
    throw new KipvsError("invalid-config", `kubeconfig ${files}: no context "${contextName}"`);
  }
  const undefinedRef = (what: string, name: string) =>
    new KipvsError(
      "invalid-config",
      `kubeconfig ${ctx.file}: context "${contextName}" names ${what} "${name}", ` +
        "which is not defined",
    );
  const clusterName = str(ctx, "cluster");
  const cluster = clusterName === undefined ? undefined : merged.clusters.get(clusterName);
  if (!cluster) throw undefinedRef("cluster", clusterName ?? "");
  const userName = str(ctx, "user");
  if (!userName) return { contextName, cluster };
  const user = merged.users.get(userName);
  if (!user) throw undefinedRef("user", userName);
  return { contextName, cluster, user };
}

function mergeFile(merged: Merged, file: string, text: string): void {
  let doc: unknown;
  try {
    doc = load(text, { schema: CORE_SCHEMA });
  } catch (err) {
    throw new KipvsError("invalid-config", `kubeconfig ${file} is not YAML`, { cause: err });
  }
  if (doc === null || doc === undefined) return; // an empty file is allowed, as in kubectl
  if (!isRecord(doc)) {
    throw new KipvsError("invalid-config", `kubeconfig ${file} is not a mapping`);
  }
  const cc = doc["current-context"];
  if (typeof cc === "string" && cc !== "" && !merged.currentContext) {
    merged.currentContext = { name: cc, file };
  }
  for (
    const [list, field, into] of [
      ["clusters", "cluster", merged.clusters],
      ["users", "user", merged.users],
      ["contexts", "context", merged.contexts],
    ] as const
  ) {
    const items = doc[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      throw new KipvsError("invalid-config", `kubeconfig ${file}: ${list} is not a list`);
    }
    items.forEach((item: unknown, i) => {
      const where = `${list}[${i}]`;
      if (!isRecord(item) || typeof item.name !== "string" || item.name === "") {
        throw new KipvsError("invalid-config", `kubeconfig ${file}: ${where} has no name`);
      }
      const body = item[field] ?? {};
      if (!isRecord(body)) {
        throw new KipvsError(
          "invalid-config",
          `kubeconfig ${file}: ${where}.${field} is not a mapping`,
        );
      }
      if (!into.has(item.name)) {
        into.set(item.name, { name: item.name, body, file, where: `${where}.${field}` });
      }
    });
  }
}

async function clusterTls(
  c: Entry,
  read: (p: string) => Promise<string>,
): Promise<Pick<ApiConnection, "caCerts" | "insecureSkipTLSVerify">> {
  for (const unsupported of ["tls-server-name", "proxy-url"]) {
    if (c.body[unsupported] !== undefined) {
      throw new KipvsError(
        "invalid-config",
        `kubeconfig ${c.file}: cluster "${c.name}" sets ${unsupported}, which kipvs does not support`,
      );
    }
  }
  const insecure = c.body["insecure-skip-tls-verify"] === true;
  const ca = await fileOrData(c, "certificate-authority", read);
  if (insecure && ca !== undefined) {
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${c.file}: cluster "${c.name}" sets both a certificate authority and ` +
        "insecure-skip-tls-verify; keep one",
    );
  }
  return { caCerts: ca === undefined ? [] : [ca], insecureSkipTLSVerify: insecure };
}

async function clientCertificate(
  u: Entry,
  read: (p: string) => Promise<string>,
): Promise<Pick<ApiConnection, "clientCert" | "clientKey">> {
  const cert = await fileOrData(u, "client-certificate", read);
  const key = await fileOrData(u, "client-key", read);
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "client-certificate" : "client-key";
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${u.file}: user "${u.name}" has a client ${
        cert === undefined ? "key" : "certificate"
      } but no ${missing}`,
    );
  }
  return cert === undefined ? {} : { clientCert: cert, clientKey: key };
}

function credentials(
  u: Entry,
  tokenPeriodMs: number | undefined,
  read: (p: string) => Promise<string>,
): Credentials {
  for (const plugin of ["exec", "auth-provider"]) {
    if (u.body[plugin] !== undefined) {
      throw new KipvsError(
        "invalid-config",
        `kubeconfig ${u.file}: user "${u.name}" uses an ${plugin} credential plugin, which ` +
          "kipvs does not run; give it a client certificate, token or tokenFile",
      );
    }
  }
  const token = str(u, "token");
  const tokenFile = str(u, "tokenFile");
  const username = str(u, "username");
  const password = str(u, "password");
  if ((token || tokenFile) && (username || password)) {
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${u.file}: user "${u.name}" has both a token and a username/password; keep one`,
    );
  }
  if (tokenFile) {
    return {
      kind: "bearer",
      token: new FileToken({
        path: resolvePath(u.file, tokenFile),
        periodMs: tokenPeriodMs,
        readTextFile: read,
      }),
    };
  }
  if (token) return { kind: "bearer", token: new StaticToken(token) };
  if (username || password) {
    return { kind: "basic", username: username ?? "", password: password ?? "" };
  }
  return { kind: "none" };
}

/** `<field>` (a path, relative to the file) or `<field>-data` (base64 PEM); undefined if neither. */
async function fileOrData(
  e: Entry,
  field: string,
  read: (p: string) => Promise<string>,
): Promise<string | undefined> {
  const data = str(e, `${field}-data`);
  if (data) {
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(data.trim()), (c) => c.charCodeAt(0)));
    } catch (err) {
      throw new KipvsError(
        "invalid-config",
        `kubeconfig ${e.file}: ${e.where}.${field}-data is not base64`,
        { cause: err },
      );
    }
  }
  const path = str(e, field);
  if (!path) return undefined;
  const abs = resolvePath(e.file, path);
  try {
    return await read(abs);
  } catch (err) {
    throw new KipvsError("io", `kubeconfig ${e.file}: cannot read ${e.where}.${field} ${abs}`, {
      cause: err,
    });
  }
}

function resolvePath(file: string, p: string): string {
  return isAbsolute(p) ? p : join(dirname(file), p);
}

function str(e: Entry, field: string): string | undefined {
  const v = e.body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw new KipvsError(
      "invalid-config",
      `kubeconfig ${e.file}: ${e.where}.${field} is not a string`,
    );
  }
  return v;
}

function requiredStr(e: Entry, field: string): string {
  const v = str(e, field);
  if (!v) {
    throw new KipvsError("invalid-config", `kubeconfig ${e.file}: ${e.where}.${field} is missing`);
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
