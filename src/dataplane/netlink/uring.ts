/**
 * A minimal io_uring (Linux 5.6 and later) over Deno FFI: a submission ring the caller fills
 * with socket sends and receives, run with one `io_uring_enter` that waits for every
 * completion. Kipvs uses it to take many netlink round trips in one system call.
 *
 * Deno's pointer API needs an unscoped `--allow-ffi`, so the rings, which live in memory the
 * kernel maps, are read and written with `memcpy` from and to JavaScript buffers. No decision
 * depends on `errno` (see notes/ipvs-netlink.md): failures are told by return values and by
 * the rings' own head and tail counters.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { ERRNO, netlinkError } from "./errno.ts";
import { addressOf, type LibC, native } from "./ffi.ts";

// System call numbers: the same on x86_64 and aarch64 (io_uring came after the tables met).
const SYS_SETUP = 425n;
const SYS_ENTER = 426n;
const SYS_REGISTER = 427n;

const IORING_OFF_SQES = 0x1000_0000n;
const IORING_FEAT_SINGLE_MMAP = 1 << 0;
const IORING_FEAT_NODROP = 1 << 1;
const IORING_FEAT_EXT_ARG = 1 << 8;
const IORING_ENTER_GETEVENTS = 1n;
const IORING_ENTER_EXT_ARG = 8n;
// struct io_uring_getevents_arg { u64 sigmask; u32 sigmask_sz; u32 pad; u64 ts; }
const GETEVENTS_ARG = 24;
const IORING_REGISTER_PROBE = 8n;
const IO_URING_OP_SUPPORTED = 1;
const PROT_READ_WRITE = 0x3;
const MAP_SHARED_POPULATE = 0x1 | 0x8000;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** Opcodes kipvs submits. */
export const IORING_OP_SEND = 26;
export const IORING_OP_RECV = 27;
/** The next entry starts after this one completes, whatever its outcome. */
export const IOSQE_IO_HARDLINK = 1 << 3;

/** Size of `struct io_uring_sqe` and `struct io_uring_cqe`. */
const SQE = 64;
const CQE = 16;
// struct io_uring_params: 40 bytes of fields, then io_sqring_offsets and io_cqring_offsets.
const PARAMS = 120;
const SQ_OFF = 40;
const CQ_OFF = 80;

/** Options of {@link Uring.open}. */
export interface UringOptions {
  /** Submission entries (rounded up to a power of two by the kernel). */
  entries: number;
  /** Opcodes that must be supported, or the ring is not opened. */
  ops: readonly number[];
}

/** Where the kernel's rings are mapped. */
interface Maps {
  ring: bigint;
  ringBytes: number;
  sqes: bigint;
}

/** One entry to submit: a send or a receive on a socket. */
export interface SocketEntry {
  op: typeof IORING_OP_SEND | typeof IORING_OP_RECV;
  fd: number;
  /** Address of the buffer (it must stay where it is until the run returns). */
  addr: bigint;
  len: number;
  /** MSG_* flags. */
  msgFlags: number;
  /** IOSQE_* flags. */
  flags: number;
}

/** An io_uring instance; its entries run in one {@link run}. */
export class Uring {
  #libc: LibC;
  #fd: number;
  #entries: number;
  #ringAddr: bigint;
  #ringBytes: number;
  #sqesAddr: bigint;
  #sqTailAt: bigint;
  #sqHeadAt: bigint;
  #sqMask: number;
  #cqHeadAt: bigint;
  #cqTailAt: bigint;
  #cqesAt: bigint;
  #cqMask: number;
  #sqTail = 0;
  #cqHead = 0;
  #sqes: Uint8Array;
  #sqeView: DataView;
  #count = 0;
  #cqes: Uint8Array;
  #cqeView: DataView;
  #results: Int32Array;
  #u32 = new Uint8Array(4);
  #u32View = new DataView(this.#u32.buffer);
  /** io_uring_getevents_arg at 0, the struct __kernel_timespec it points to at 64. Larger
   * than 64 bytes, so it lives off V8's moving heap and the pointer inside stays good. */
  #wait = new Uint8Array(128);
  #waitView = new DataView(this.#wait.buffer);

  private constructor(libc: LibC, fd: number, params: DataView, maps: Maps) {
    const ring = maps.ring;
    this.#libc = libc;
    this.#fd = fd;
    this.#entries = params.getUint32(0, true);
    this.#ringAddr = ring;
    this.#ringBytes = maps.ringBytes;
    this.#sqesAddr = maps.sqes;
    const sq = (field: number) => ring + BigInt(params.getUint32(SQ_OFF + field, true));
    const cq = (field: number) => ring + BigInt(params.getUint32(CQ_OFF + field, true));
    this.#sqHeadAt = sq(0);
    this.#sqTailAt = sq(4);
    this.#cqHeadAt = cq(0);
    this.#cqTailAt = cq(4);
    this.#cqesAt = cq(20);
    this.#sqMask = this.#read32(sq(8));
    this.#cqMask = this.#read32(cq(8));
    this.#sqTail = this.#read32(this.#sqTailAt);
    this.#cqHead = this.#read32(this.#cqHeadAt);
    this.#sqes = new Uint8Array(this.#entries * SQE);
    this.#sqeView = new DataView(this.#sqes.buffer);
    this.#cqes = new Uint8Array((this.#cqMask + 1) * CQE);
    this.#cqeView = new DataView(this.#cqes.buffer);
    this.#results = new Int32Array(this.#entries);
    // The submission array maps ring slots to entries: slot i always holds entry i.
    const array = new Uint8Array(this.#entries * 4);
    const av = new DataView(array.buffer);
    for (let i = 0; i < this.#entries; i++) av.setUint32(i * 4, i, true);
    libc.copyTo(sq(24), array, BigInt(array.length));
    this.#waitView.setBigUint64(16, addressOf(this.#wait) + 64n, true);
  }

  /**
   * Sets up a ring, or says why there is none: a kernel before 5.11, io_uring disabled
   * (`kernel.io_uring_disabled`), or a seccomp profile that refuses it (container runtimes'
   * defaults do). Callers then do without.
   */
  static open(options: UringOptions): Uring | { unavailable: string } {
    const { libc } = native();
    const params = new Uint8Array(PARAMS);
    const pv = new DataView(params.buffer);
    const fd = Number(libc.uringSetup(SYS_SETUP, BigInt(options.entries), params));
    if (fd < 0) return { unavailable: "io_uring_setup() failed (not in this kernel, or refused)" };
    const features = pv.getUint32(20, true);
    const close = (why: string) => {
      libc.close(fd);
      return { unavailable: why };
    };
    // 5.11: a wait with a timeout (EXT_ARG), so a run can never hang.
    const needed = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    if ((features & needed) !== needed) {
      return close("io_uring lacks bounded waits (kernel before 5.11)");
    }
    const missing = unsupported(libc, fd, options.ops);
    if (missing) return close(missing);
    const sqBytes = pv.getUint32(SQ_OFF + 24, true) + pv.getUint32(0, true) * 4;
    const cqBytes = pv.getUint32(CQ_OFF + 20, true) + pv.getUint32(4, true) * CQE;
    const ringBytes = Math.max(sqBytes, cqBytes);
    const ring = mmap(libc, fd, ringBytes, 0n);
    if (ring === undefined) return close("cannot map the io_uring rings");
    const sqes = mmap(libc, fd, pv.getUint32(0, true) * SQE, IORING_OFF_SQES);
    if (sqes === undefined) {
      libc.munmap(ring, BigInt(ringBytes));
      return close("cannot map the io_uring submission entries");
    }
    return new Uring(libc, fd, pv, { ring, ringBytes, sqes });
  }

  /** Submission entries one run takes at most. */
  get entries(): number {
    return this.#entries;
  }

  /** Entries added since the last run. */
  get pending(): number {
    return this.#count;
  }

  /** Adds an entry to the next run; returns its index (the index of its result). */
  add(e: SocketEntry): number {
    if (this.#count >= this.#entries) {
      throw new KipvsError("internal", `io_uring run of more than ${this.#entries} entries`);
    }
    const i = this.#count++;
    const v = this.#sqeView;
    const at = i * SQE;
    this.#sqes.fill(0, at, at + SQE);
    v.setUint8(at, e.op);
    v.setUint8(at + 1, e.flags);
    v.setInt32(at + 4, e.fd, true);
    v.setBigUint64(at + 16, e.addr, true);
    v.setUint32(at + 24, e.len, true);
    v.setUint32(at + 28, e.msgFlags, true);
    v.setBigUint64(at + 32, BigInt(i), true); // user_data: the entry's index
    return i;
  }

  /**
   * Submits the entries added since the last run and waits for all their completions, at most
   * `timeoutMs`. Returns each entry's result by index (bytes, or a negative errno); valid until
   * the next run. A run that does not complete in time throws ETIMEDOUT, and the ring must then
   * be closed (closing cancels what is still pending).
   */
  run(timeoutMs: number): Int32Array {
    const n = this.#count;
    this.#count = 0;
    if (n === 0) return this.#results.subarray(0, 0);
    const { copyTo } = this.#libc;
    // Entries go to the slots the tail points at, wrapping at the end of the array.
    const first = this.#sqTail & this.#sqMask;
    const head = Math.min(n, this.#entries - first);
    copyTo(
      this.#sqesAddr + BigInt(first * SQE),
      this.#sqes.subarray(0, head * SQE),
      BigInt(head * SQE),
    );
    if (head < n) {
      copyTo(this.#sqesAddr, this.#sqes.subarray(head * SQE, n * SQE), BigInt((n - head) * SQE));
    }
    this.#sqTail = (this.#sqTail + n) >>> 0;
    this.#write32(this.#sqTailAt, this.#sqTail);
    const results = this.#results;
    results.fill(0, 0, n);
    let done = 0;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const unsubmitted = (this.#sqTail - this.#read32(this.#sqHeadAt)) >>> 0;
      const left = Math.max(0, deadline - performance.now());
      this.#waitView.setBigInt64(64, BigInt(Math.floor(left / 1000)), true);
      this.#waitView.setBigInt64(72, BigInt(Math.floor((left % 1000) * 1e6)), true);
      // Fails (-1) on a signal (EINTR) or when the time is up (ETIME); the rings tell which.
      this.#libc.uringEnter(
        SYS_ENTER,
        BigInt(this.#fd),
        BigInt(unsubmitted),
        BigInt(n - done),
        IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
        this.#wait,
        BigInt(GETEVENTS_ARG),
      );
      done += this.#reap(results, n);
      if (done === n) return results.subarray(0, n);
      if (performance.now() >= deadline) {
        throw netlinkError({
          what: `io_uring run of ${n} entries`,
          errno: ERRNO.ETIMEDOUT,
          hint: `${done} completed within ${timeoutMs} ms`,
        });
      }
    }
  }

  /** Unmaps the rings and closes the ring's descriptor. Safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    this.#libc.munmap(this.#sqesAddr, BigInt(this.#entries * SQE));
    this.#libc.munmap(this.#ringAddr, BigInt(this.#ringBytes));
    this.#libc.close(this.#fd);
    this.#fd = -1;
  }

  /** Takes the completions posted so far into `results`; returns how many. */
  #reap(results: Int32Array, n: number): number {
    const tail = this.#read32(this.#cqTailAt);
    const count = (tail - this.#cqHead) >>> 0;
    if (count === 0) return 0;
    const first = this.#cqHead & this.#cqMask;
    const size = this.#cqMask + 1;
    const head = Math.min(count, size - first);
    const { copyFrom } = this.#libc;
    copyFrom(this.#cqes, this.#cqesAt + BigInt(first * CQE), BigInt(head * CQE));
    if (head < count) {
      copyFrom(this.#cqes.subarray(head * CQE), this.#cqesAt, BigInt((count - head) * CQE));
    }
    const v = this.#cqeView;
    for (let k = 0; k < count; k++) {
      const index = Number(v.getBigUint64(k * CQE, true));
      if (index >= n) {
        throw new KipvsError("internal", `io_uring completion for unknown entry ${index}`);
      }
      results[index] = v.getInt32(k * CQE + 8, true);
    }
    this.#cqHead = tail;
    this.#write32(this.#cqHeadAt, tail);
    return count;
  }

  #read32(at: bigint): number {
    this.#libc.copyFrom(this.#u32, at, 4n);
    return this.#u32View.getUint32(0, true);
  }

  #write32(at: bigint, value: number): void {
    this.#u32View.setUint32(0, value, true);
    this.#libc.copyTo(at, this.#u32, 4n);
  }
}

function mmap(libc: LibC, fd: number, bytes: number, offset: bigint): bigint | undefined {
  const at = BigInt(libc.mmap(0n, BigInt(bytes), PROT_READ_WRITE, MAP_SHARED_POPULATE, fd, offset));
  return at === MAP_FAILED || at === 0n ? undefined : at;
}

/** Why the ring cannot run `ops` (IORING_REGISTER_PROBE, 5.6), or undefined when it can. */
function unsupported(libc: LibC, fd: number, ops: readonly number[]): string | undefined {
  // struct io_uring_probe: 16 bytes, then 256 struct io_uring_probe_op of 8 bytes.
  const probe = new Uint8Array(16 + 256 * 8);
  const rc = libc.uringRegister(SYS_REGISTER, BigInt(fd), IORING_REGISTER_PROBE, probe, 256n);
  if (Number(rc) < 0) return "io_uring cannot list its operations (kernel before 5.6)";
  const view = new DataView(probe.buffer);
  const len = probe[1] ?? 0;
  for (const op of ops) {
    if (op >= len || !(view.getUint16(16 + op * 8 + 2, true) & IO_URING_OP_SUPPORTED)) {
      return `io_uring lacks operation ${op}`;
    }
  }
  return undefined;
}
