import assert from "node:assert/strict";
import { NLA_F_NESTED } from "../../../src/dataplane/netlink/constants.ts";
import { Attrs, messages } from "../../../src/dataplane/netlink/reader.ts";
import { MessageWriter } from "../../../src/dataplane/netlink/writer.ts";

Deno.test("MessageWriter and Attrs round-trip every attribute kind", () => {
  const w = new MessageWriter();
  const at = w.begin(28, 0x5, 42);
  w.genl(5, 1);
  w.u8(1, 0xab);
  w.u16(2, 0xbeef);
  w.u16be(3, 8080);
  w.u32(4, 0xdeadbeef);
  w.u32be(5, 0xffffff00);
  w.string(6, "wlc");
  w.bytesAttr(7, Uint8Array.of(1, 2, 3, 4, 5));
  const n = w.nestStart(8);
  w.u32(1, 7);
  w.string(2, "inner");
  w.nestEnd(n);
  w.end();
  w.addFlags(at, 0x100);

  const bytes = w.bytes();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const [m, ...rest] = [...messages(view, bytes.length)];
  assert.equal(rest.length, 0);
  assert.deepEqual(m, { offset: 0, length: bytes.length, type: 28, flags: 0x105, seq: 42 });
  assert.equal(bytes.length % 4, 0);
  const a = new Attrs(view, 20, bytes.length, 8);
  assert.equal(a.offset(1) >= 0 && view.getUint8(a.offset(1)), 0xab);
  assert.equal(a.u16(2), 0xbeef);
  assert.equal(a.u16be(3), 8080);
  assert.equal(view.getUint8(a.offset(3)), 0x1f, "port bytes are big-endian on the wire");
  assert.equal(a.u32(4), 0xdeadbeef);
  assert.equal(a.u32be(5), 0xffffff00);
  assert.equal(a.string(6), "wlc");
  assert.deepEqual([...a.bytes(7)!], [1, 2, 3, 4, 5]);
  assert.equal(view.getUint16(a.offset(8) - 2, true), 8 | NLA_F_NESTED, "nests carry NLA_F_NESTED");
  const inner = a.nested(8, 2)!;
  assert.equal(inner.u32(1), 7);
  assert.equal(inner.string(2), "inner");
  assert.equal(a.has(9), false);
  assert.equal(a.u32(9, 99), 99);
});

Deno.test("MessageWriter keeps earlier messages intact when it grows", () => {
  const w = new MessageWriter(64);
  for (let i = 0; i < 500; i++) {
    w.begin(20, 1, i);
    w.u16be(2, i);
    w.bytesAttr(1, Uint8Array.of(10, 0, i >> 8, i & 255));
    w.end();
  }
  const bytes = w.bytes();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seen = [...messages(view, bytes.length)];
  assert.equal(seen.length, 500);
  seen.forEach((m, i) => {
    assert.equal(m.seq, i);
    const a = new Attrs(view, m.offset + 16, m.offset + m.length, 2);
    assert.equal(a.u16be(2), i);
    assert.equal(a.bytes(1)![3], i & 255);
  });
});

Deno.test("MessageWriter.truncate() drops a message that did not fit", () => {
  const w = new MessageWriter();
  w.begin(1, 0, 1);
  w.end();
  const keep = w.length;
  w.begin(1, 0, 2);
  w.u32(1, 1);
  w.end();
  w.truncate(keep);
  const b = w.bytes();
  assert.equal([...messages(new DataView(b.buffer, 0, b.length), b.length)].length, 1);
});

Deno.test("messages() rejects a message longer than the datagram", () => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(0, 64, true);
  assert.throws(() => [...messages(new DataView(b.buffer), 16)], /malformed netlink message/);
});
