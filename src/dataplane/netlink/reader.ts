/**
 * Reads netlink messages and attributes in place, from the bytes a receive returned. Nothing is
 * copied: callers get offsets into one DataView and decode only what they need.
 *
 * @module
 */

import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from "./constants.ts";

const decoder = new TextDecoder();
const align4 = (n: number) => (n + 3) & ~3;

/** One message inside a datagram. */
export interface MessageRef {
  /** Offset of the `struct nlmsghdr`. */
  offset: number;
  /** Total length, header included. */
  length: number;
  type: number;
  flags: number;
  seq: number;
}

/**
 * The messages of a datagram of `length` bytes at `start` of `view`, in order. A malformed
 * message throws: the kernel never sends one, so the buffer was too small or corrupted.
 */
export function* messages(view: DataView, length: number, start = 0): Generator<MessageRef> {
  let off = start;
  const end = start + length;
  while (off + NLMSG_HDRLEN <= end) {
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > end) {
      throw new Error(
        `malformed netlink message at offset ${off}: length ${len}, datagram ends at ${end}`,
      );
    }
    yield {
      offset: off,
      length: len,
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
    };
    off += align4(len);
  }
}

/**
 * The messages of datagrams, walked without allocating: one instance is reset to a datagram and
 * then describes each message in turn (it is a {@link MessageRef} that changes with
 * {@link next}). The hot loops of dumps use it; {@link messages} is the convenient form.
 */
export class MessageCursor implements MessageRef {
  offset = 0;
  length = 0;
  type = 0;
  flags = 0;
  seq = 0;
  #view: DataView = new DataView(new ArrayBuffer(0));
  #next = 0;
  #end = 0;

  /** Starts on the datagram of `length` bytes at `start` of `view`. */
  reset(view: DataView, length: number, start = 0): this {
    this.#view = view;
    this.#next = start;
    this.#end = start + length;
    return this;
  }

  /** Moves to the next message; false after the last. Malformed messages throw, as in {@link messages}. */
  next(): boolean {
    const view = this.#view;
    const off = this.#next;
    if (off + NLMSG_HDRLEN > this.#end) return false;
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > this.#end) {
      throw new Error(
        `malformed netlink message at offset ${off}: length ${len}, datagram ends at ${this.#end}`,
      );
    }
    this.offset = off;
    this.length = len;
    this.type = view.getUint16(off + 4, true);
    this.flags = view.getUint16(off + 6, true);
    this.seq = view.getUint32(off + 8, true);
    this.#next = off + align4(len);
    return true;
  }
}

/**
 * Attribute positions of one attribute block, by type (the last occurrence wins). Hot decoders
 * keep one instance per attribute namespace and {@link reload} it, allocating nothing.
 */
export class Attrs {
  /** Payload offset per type; -1 when absent. */
  readonly #off: Int32Array;
  readonly #len: Int32Array;
  #view: DataView;

  /** Indexes the attributes in `[start, end)` of `view`, for types up to `maxType`. */
  constructor(view: DataView, start: number, end: number, maxType: number) {
    this.#view = view;
    this.#off = new Int32Array(maxType + 1);
    this.#len = new Int32Array(maxType + 1);
    this.reload(view, start, end);
  }

  /** The view the offsets point into. */
  get view(): DataView {
    return this.#view;
  }

  /** Indexes another block with the same instance (whose earlier answers become invalid). */
  reload(view: DataView, start: number, end: number): this {
    this.#view = view;
    this.#off.fill(-1);
    const maxType = this.#off.length - 1;
    let off = start;
    while (off + NLA_HDRLEN <= end) {
      const len = view.getUint16(off, true);
      if (len < NLA_HDRLEN || off + len > end) break;
      const type = view.getUint16(off + 2, true) & NLA_TYPE_MASK;
      if (type <= maxType) {
        this.#off[type] = off + NLA_HDRLEN;
        this.#len[type] = len - NLA_HDRLEN;
      }
      off += align4(len);
    }
    return this;
  }

  has(type: number): boolean {
    return (this.#off[type] ?? -1) >= 0;
  }

  /** Payload offset of `type`, or -1. */
  offset(type: number): number {
    return this.#off[type] ?? -1;
  }

  /** Payload length of `type` (0 when absent). */
  length(type: number): number {
    return this.#len[type] ?? 0;
  }

  u16(type: number, fallback = 0): number {
    const o = this.offset(type);
    return o < 0 ? fallback : this.view.getUint16(o, true);
  }

  /** A u16 in network byte order (ports). */
  u16be(type: number, fallback = 0): number {
    const o = this.offset(type);
    return o < 0 ? fallback : this.view.getUint16(o, false);
  }

  u32(type: number, fallback = 0): number {
    const o = this.offset(type);
    return o < 0 ? fallback : this.view.getUint32(o, true);
  }

  /** A u32 in network byte order. */
  u32be(type: number, fallback = 0): number {
    const o = this.offset(type);
    return o < 0 ? fallback : this.view.getUint32(o, false);
  }

  /** A u64 as a number (exact up to 2^53, far beyond any counter the kernel reaches). */
  u64(type: number, fallback = 0): number {
    const o = this.offset(type);
    if (o < 0) return fallback;
    return this.view.getUint32(o + 4, true) * 0x1_0000_0000 + this.view.getUint32(o, true);
  }

  /** A NUL-terminated string. */
  string(type: number, fallback = ""): string {
    const o = this.offset(type);
    if (o < 0) return fallback;
    let end = o + this.length(type);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + o, end - o);
    const nul = bytes.indexOf(0);
    if (nul >= 0) end = o + nul;
    return decoder.decode(bytes.subarray(0, end - o));
  }

  /** The raw payload of `type` (a view into the receive buffer). */
  bytes(type: number): Uint8Array | undefined {
    const o = this.offset(type);
    if (o < 0) return undefined;
    return new Uint8Array(this.view.buffer, this.view.byteOffset + o, this.length(type));
  }

  /** The attributes nested in `type` (indexed into `into` when given), or undefined when absent. */
  nested(type: number, maxType: number, into?: Attrs): Attrs | undefined {
    const o = this.offset(type);
    if (o < 0) return undefined;
    const end = o + this.length(type);
    return into ? into.reload(this.view, o, end) : new Attrs(this.view, o, end, maxType);
  }
}
