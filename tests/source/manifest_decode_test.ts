import assert from "node:assert/strict";
import { decodeManifest, detectEncoding } from "../../src/source/_manifest_decode.ts";
import { KipvsError } from "../../src/errors.ts";

const TEXT = "apiVersion: v1\nkind: Service # é ✓ 𝄞\n";

function utf16(s: string, bigEndian: boolean, bom: boolean): Uint8Array {
  const out = new Uint8Array((bom ? 2 : 0) + s.length * 2);
  const view = new DataView(out.buffer);
  let at = 0;
  if (bom) view.setUint16((at += 2) - 2, 0xfeff, !bigEndian);
  for (let i = 0; i < s.length; i++, at += 2) view.setUint16(at, s.charCodeAt(i), !bigEndian);
  return out;
}

function utf32(s: string, bigEndian: boolean, bom: boolean): Uint8Array {
  const cps = [...(bom ? "\ufeff" : ""), ...s].map((c) => c.codePointAt(0)!);
  const out = new Uint8Array(cps.length * 4);
  const view = new DataView(out.buffer);
  cps.forEach((cp, i) => view.setUint32(i * 4, cp, !bigEndian));
  return out;
}

Deno.test("decodeManifest() reads UTF-8, UTF-16 and UTF-32 with or without a byte order mark", () => {
  const utf8 = new TextEncoder().encode(TEXT);
  const cases: [string, Uint8Array][] = [
    ["utf-8", utf8],
    ["utf-8", new Uint8Array([0xef, 0xbb, 0xbf, ...utf8])],
    ["utf-16le", utf16(TEXT, false, true)],
    ["utf-16be", utf16(TEXT, true, true)],
    ["utf-16le", utf16(TEXT, false, false)],
    ["utf-16be", utf16(TEXT, true, false)],
    ["utf-32le", utf32(TEXT, false, true)],
    ["utf-32be", utf32(TEXT, true, true)],
    ["utf-32le", utf32(TEXT, false, false)],
    ["utf-32be", utf32(TEXT, true, false)],
  ];
  for (const [encoding, bytes] of cases) {
    assert.equal(detectEncoding(bytes).encoding, encoding);
    assert.equal(decodeManifest(bytes, "f.yaml"), TEXT, encoding);
  }
});

Deno.test("decodeManifest() refuses invalid UTF-8, NUL characters and broken UTF-16/32, naming the file and where", () => {
  const refused = (bytes: Uint8Array, re: RegExp) => {
    assert.throws(() => decodeManifest(bytes, "/m/bad.yaml"), (err: unknown) => {
      assert.ok(err instanceof KipvsError && err.code === "invalid-config");
      assert.match(err.message, /^cannot read \/m\/bad\.yaml: /);
      assert.match(err.message, re);
      return true;
    });
  };
  const latin1 = new TextEncoder().encode("a: 1\nname: caf?\n");
  latin1[14] = 0xe9; // é in Latin-1
  refused(latin1, /invalid UTF-8 \(byte 0xe9 at line 2, column 10, byte 14\)/);
  refused(new TextEncoder().encode("a: 1\nb: x\0y\n"), /a NUL character at line 2, column 5/);
  refused(new Uint8Array([0xff, 0xfe, 0x61, 0x00, 0x00, 0xd8, 0x62, 0x00]), /invalid UTF-16LE/);
  refused(new Uint8Array([0xff, 0xfe, 0x61]), /invalid UTF-16LE: 1 bytes/);
  refused(utf32("a: \u{10ffff}", false, true).map((b, i) => i === 14 ? 0x11 : b), /invalid UTF-32/);
  refused(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), /invalid UTF-8/);
});
