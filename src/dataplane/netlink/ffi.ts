/**
 * The native functions kipvs calls: libnl-3 and libnl-genl-3 for netlink sockets and generic
 * netlink family resolution, libc for `recvmmsg`, `poll`, socket options and io_uring (through
 * `syscall` and `mmap`). Each library is opened
 * once, lazily, by the absolute path that `--allow-ffi` names in scripts/permissions (the
 * architecture's directory is resolved at run time).
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** `/usr/lib/x86_64-linux-gnu` or `/usr/lib/aarch64-linux-gnu`, by the running architecture. */
export function libDir(): string {
  const triplet = Deno.build.arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return `/usr/lib/${triplet}`;
}

const NL_SYMBOLS = {
  nl_socket_alloc: { parameters: [], result: "pointer" },
  nl_socket_free: { parameters: ["pointer"], result: "void" },
  nl_connect: { parameters: ["pointer", "i32"], result: "i32" },
  nl_socket_get_fd: { parameters: ["pointer"], result: "i32" },
  nl_socket_set_buffer_size: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  nl_sendto: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // const char *: read as an address (see LIBC_SYMBOLS), so no pointer API is needed.
  nl_geterror: { parameters: ["i32"], result: "u64" },
} as const;

const GENL_SYMBOLS = {
  genl_ctrl_resolve: { parameters: ["pointer", "buffer"], result: "i32" },
} as const;

// Deno's pointer API (UnsafePointer.of/value, UnsafePointerView) demands --allow-ffi without a
// path list, which kipvs does not get. Addresses are handled as plain integers instead:
// memcpy(dst, src, 0) returns dst, giving a buffer's address; memcpy from an integer address
// copies native memory (a C string) into a buffer. ArrayBuffers of more than 64 bytes live
// outside V8's moving heap, so the addresses of the buffers kipvs takes them of hold.
const LIBC_SYMBOLS = {
  addressOf: { name: "memcpy", parameters: ["buffer", "buffer", "usize"], result: "u64" },
  copyFrom: { name: "memcpy", parameters: ["buffer", "u64", "usize"], result: "u64" },
  copyTo: { name: "memcpy", parameters: ["u64", "buffer", "usize"], result: "u64" },
  strnlen: { parameters: ["u64", "usize"], result: "u64" },
  // int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *)
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off): MAP_FAILED is -1.
  mmap: { parameters: ["u64", "usize", "i32", "i32", "i32", "i64"], result: "u64" },
  munmap: { parameters: ["u64", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // io_uring has no libc wrapper: long syscall(long nr, ...), one declaration per call shape
  // (glibc's syscall() only moves registers, so a fixed-argument declaration is safe).
  // io_uring_setup(u32 entries, struct io_uring_params *p)
  uringSetup: { name: "syscall", parameters: ["i64", "i64", "buffer"], result: "i64" },
  // io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz), with IORING_ENTER_EXT_ARG:
  // arg is a struct io_uring_getevents_arg (its timeout bounds the wait).
  uringEnter: {
    name: "syscall",
    parameters: ["i64", "i64", "i64", "i64", "i64", "buffer", "i64"],
    result: "i64",
  },
  // io_uring_register(fd, opcode, void *arg, nr_args)
  uringRegister: {
    name: "syscall",
    parameters: ["i64", "i64", "i64", "buffer", "i64"],
    result: "i64",
  },
} as const;

/** libnl-3's functions. */
export type LibNl = Deno.DynamicLibrary<typeof NL_SYMBOLS>["symbols"];
/** libnl-genl-3's functions. */
export type LibGenl = Deno.DynamicLibrary<typeof GENL_SYMBOLS>["symbols"];
/** libc's functions. */
export type LibC = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** The three libraries. */
export interface Native {
  nl: LibNl;
  genl: LibGenl;
  libc: LibC;
}

let loaded: Native | undefined;

function open<S extends Deno.ForeignLibraryInterface>(file: string, symbols: S, pkg: string) {
  const path = `${libDir()}/${file}`;
  try {
    return Deno.dlopen(path, symbols).symbols;
  } catch (err) {
    throw new KipvsError(
      "kernel-unsupported",
      `cannot load ${path} (Debian package ${pkg}): ${(err as Error).message}`,
      { cause: err, details: { library: path } },
    );
  }
}

/** Opens libnl-3, libnl-genl-3 and libc (once per process). */
export function native(): Native {
  loaded ??= {
    nl: open("libnl-3.so.200", NL_SYMBOLS, "libnl-3-200"),
    genl: open("libnl-genl-3.so.200", GENL_SYMBOLS, "libnl-genl-3-200"),
    libc: open("libc.so.6", LIBC_SYMBOLS, "libc6"),
  };
  return loaded;
}

/** The address of a buffer's first byte (for native structures that point into it). */
export function addressOf(buf: Uint8Array): bigint {
  return BigInt(native().libc.addressOf(buf, buf, 0n));
}

/** libnl's text for one of its (negative) error codes. */
export function libnlErrorText(code: number): string {
  const n = native();
  const at = BigInt(n.nl.nl_geterror(Math.abs(code)));
  if (at === 0n) return `libnl error ${code}`;
  const len = Number(n.libc.strnlen(at, 256n));
  const out = new Uint8Array(len);
  n.libc.copyFrom(out, at, BigInt(len));
  return new TextDecoder().decode(out);
}

/** A NUL-terminated C string. */
export function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}
