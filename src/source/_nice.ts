/**
 * Lowering the priority of a parse worker's thread, so that on a busy CPU (a small VM has one)
 * the main thread, which answers healthz and metrics and runs syncs, goes first. Linux keeps a
 * nice value per thread: `setpriority(PRIO_PROCESS, gettid(), n)` sets the calling thread's.
 * Deno has no API for it; this is libc through FFI (the one library kipvs already opens).
 *
 * @module
 */

const PRIO_PROCESS = 0;

/**
 * Sets the calling thread's nice value to `nice` (default 10: a tenth of the CPU of a thread at
 * 0 when both want it). Returns whether it could; without FFI permission it leaves it as is.
 */
export function lowerThreadPriority(nice = 10): boolean {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  try {
    const lib = Deno.dlopen(`/usr/lib/${arch}-linux-gnu/libc.so.6`, {
      gettid: { parameters: [], result: "i32" },
      setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
    });
    try {
      return lib.symbols.setpriority(PRIO_PROCESS, lib.symbols.gettid(), nice) === 0;
    } finally {
      lib.close();
    }
  } catch {
    return false; // no FFI permission, or another libc: the worker runs at normal priority
  }
}
