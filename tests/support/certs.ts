/**
 * A throwaway PKI for TLS tests, made with `openssl` at test time: a CA, a server certificate
 * for localhost / 127.0.0.1 / ::1, a client certificate like kube-proxy's
 * (CN=system:kube-proxy) and a stranger's client certificate signed by another CA. Made once
 * per process; the files live in a temporary folder removed when the process exits.
 *
 * @module
 */

/** PEM texts and the files that hold them. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate the server's CA did not sign. */
  strangerCert: string;
  strangerKey: string;
  /** Paths of the PEM files, by the names above. */
  files: Record<"caCert" | "serverCert" | "serverKey" | "clientCert" | "clientKey", string>;
}

let made: Promise<TestPki> | undefined;

/** The process's test PKI (made on first use). */
export function testPki(): Promise<TestPki> {
  return made ??= makePki();
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

async function ca(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]); // deno-fmt-ignore
}

async function leaf(
  dir: string,
  o: { name: string; subject: string; ca: string; ext: string },
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${o.name}.ext`, o.ext);
  await openssl(dir, [
    "req",
    ...KEY,
    "-keyout",
    `${o.name}.key`,
    "-out",
    `${o.name}.csr`,
    "-subj",
    o.subject,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${o.name}.csr`,
    "-CA",
    `${o.ca}.crt`,
    "-CAkey",
    `${o.ca}.key`,
    "-CAcreateserial",
    "-out",
    `${o.name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${o.name}.ext`,
  ]); // deno-fmt-ignore
}

async function makePki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "kipvs-pki-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  await ca(dir, "ca");
  await ca(dir, "other-ca");
  await leaf(dir, {
    name: "server",
    subject: "/CN=kube-apiserver",
    ca: "ca",
    ext: "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n" +
      "basicConstraints=critical,CA:FALSE\n",
  });
  const clientExt = "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n";
  await leaf(dir, {
    name: "client",
    subject: "/O=system:node-proxier/CN=system:kube-proxy",
    ca: "ca",
    ext: clientExt,
  });
  await leaf(dir, { name: "stranger", subject: "/CN=stranger", ca: "other-ca", ext: clientExt });
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  return {
    dir,
    caCert: await read("ca.crt"),
    serverCert: await read("server.crt"),
    serverKey: await read("server.key"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
    strangerCert: await read("stranger.crt"),
    strangerKey: await read("stranger.key"),
    files: {
      caCert: `${dir}/ca.crt`,
      serverCert: `${dir}/server.crt`,
      serverKey: `${dir}/server.key`,
      clientCert: `${dir}/client.crt`,
      clientKey: `${dir}/client.key`,
    },
  };
}
