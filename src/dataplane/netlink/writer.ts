/**
 * Builds netlink messages directly into one growable byte buffer: many messages back to back,
 * ready for a single send. Numbers are in host byte order (little-endian on every architecture
 * kipvs runs on) unless a method says otherwise.
 *
 * @module
 */

import { GENL_HDRLEN, NLA_F_NESTED, NLA_HDRLEN, NLMSG_HDRLEN } from "./constants.ts";

const encoder = new TextEncoder();
const align4 = (n: number) => (n + 3) & ~3;

/** Appends netlink messages and attributes to a buffer. */
export class MessageWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;
  #msgStart = -1;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** The written bytes (a view, valid until the next write or reset). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** Forgets everything written; keeps the buffer. */
  reset(): void {
    this.#len = 0;
    this.#msgStart = -1;
  }

  /** Drops everything written after `length` bytes (a message that did not fit). */
  truncate(length: number): void {
    this.#len = Math.min(length, this.#len);
    this.#msgStart = -1;
  }

  /** Starts a message (`struct nlmsghdr`); returns its offset. Close it with {@link end}. */
  begin(type: number, flags: number, seq: number): number {
    const at = this.#reserve(NLMSG_HDRLEN);
    this.#view.setUint16(at + 4, type, true);
    this.#view.setUint16(at + 6, flags, true);
    this.#view.setUint32(at + 8, seq, true);
    this.#view.setUint32(at + 12, 0, true); // port id: the kernel answers the sender anyway
    this.#msgStart = at;
    return at;
  }

  /** Writes the message's total length into its header. */
  end(): void {
    if (this.#msgStart < 0) throw new Error("MessageWriter.end() without begin()");
    this.#view.setUint32(this.#msgStart, this.#len - this.#msgStart, true);
    this.#msgStart = -1;
  }

  /** ORs `flags` into the header of the message that starts at `at`. */
  addFlags(at: number, flags: number): void {
    this.#view.setUint16(at + 6, this.#view.getUint16(at + 6, true) | flags, true);
  }

  /** Appends `struct genlmsghdr`. */
  genl(cmd: number, version: number): void {
    const at = this.#reserve(GENL_HDRLEN);
    this.#buf[at] = cmd;
    this.#buf[at + 1] = version;
  }

  /** Appends raw bytes padded to 4 (a family header such as `struct ifaddrmsg`). */
  raw(bytes: Uint8Array): void {
    const at = this.#reserve(align4(bytes.length));
    this.#buf.set(bytes, at);
  }

  /** Appends a fixed-size zeroed header and returns its offset, for the caller to fill. */
  header(size: number): number {
    return this.#reserve(align4(size));
  }

  /** The view to fill a {@link header} through. */
  get view(): DataView {
    return this.#view;
  }

  u8(type: number, v: number): void {
    const at = this.#attr(type, 1); // may grow the buffer: take the view after
    this.#view.setUint8(at, v);
  }

  u16(type: number, v: number): void {
    const at = this.#attr(type, 2); // may grow the buffer: take the view after
    this.#view.setUint16(at, v, true);
  }

  /** A u16 in network byte order (ports). */
  u16be(type: number, v: number): void {
    const at = this.#attr(type, 2); // may grow the buffer: take the view after
    this.#view.setUint16(at, v, false);
  }

  u32(type: number, v: number): void {
    const at = this.#attr(type, 4); // may grow the buffer: take the view after
    this.#view.setUint32(at, v >>> 0, true);
  }

  /** A u32 in network byte order (an IPv4 mask as address bytes). */
  u32be(type: number, v: number): void {
    const at = this.#attr(type, 4); // may grow the buffer: take the view after
    this.#view.setUint32(at, v >>> 0, false);
  }

  /** An attribute of `size` zeroed payload bytes (a struct); returns the payload's offset. */
  attr(type: number, size: number): number {
    return this.#attr(type, size);
  }

  /** A NUL-terminated string. */
  string(type: number, s: string): void {
    const b = encoder.encode(s);
    const at = this.#attr(type, b.length + 1);
    this.#buf.set(b, at);
    this.#buf[at + b.length] = 0;
  }

  bytesAttr(type: number, b: Uint8Array): void {
    const at = this.#attr(type, b.length); // may grow the buffer: take it after
    this.#buf.set(b, at);
  }

  /** Opens a nested attribute; pass the result to {@link nestEnd}. */
  nestStart(type: number): number {
    const at = this.#reserve(NLA_HDRLEN);
    this.#view.setUint16(at + 2, type | NLA_F_NESTED, true);
    return at;
  }

  nestEnd(at: number): void {
    this.#view.setUint16(at, this.#len - at, true);
  }

  /** Writes an attribute header for `size` payload bytes; returns the payload offset. */
  #attr(type: number, size: number): number {
    const at = this.#reserve(align4(NLA_HDRLEN + size));
    this.#view.setUint16(at, NLA_HDRLEN + size, true);
    this.#view.setUint16(at + 2, type, true);
    return at + NLA_HDRLEN;
  }

  /** Reserves `n` zeroed bytes (n is a multiple of 4) and returns their offset. */
  #reserve(n: number): number {
    const at = this.#len;
    const need = at + n;
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.#buf.fill(0, at, need);
    this.#len = need;
    return at;
  }
}
