/**
 * Abort controllers linked to a parent signal and a timeout, by event listeners.
 *
 * Not `AbortSignal.any`: in Deno 2.9 a signal it returns is held only weakly by its sources
 * (denoland/deno#29075), so once the garbage collector has taken it, aborting the parent no
 * longer reaches whoever listens to it. A listener on the parent holds the child strongly until
 * {@link LinkedAbort.dispose}. (Response bodies have the same weakness inside fetch; see
 * `body.ts`.)
 *
 * @module
 */

/** A controller that aborts with its parent or its timeout. */
export interface LinkedAbort {
  /** The signal to pass on. */
  readonly signal: AbortSignal;
  /** Aborts now. */
  abort(reason?: unknown): void;
  /** Unlinks from the parent and clears the timeout (always call it when done). */
  dispose(): void;
}

/** A controller aborted by `parent`, after `timeoutMs`, or by its own `abort()`. */
export function linkedAbort(o: { parent?: AbortSignal; timeoutMs?: number } = {}): LinkedAbort {
  const ac = new AbortController();
  const onParent = () => ac.abort(o.parent?.reason);
  if (o.parent?.aborted) ac.abort(o.parent.reason);
  else o.parent?.addEventListener("abort", onParent, { once: true });
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(
    () => ac.abort(new DOMException(`timed out after ${o.timeoutMs} ms`, "TimeoutError")),
    o.timeoutMs,
  );
  return {
    signal: ac.signal,
    abort: (reason) => ac.abort(reason),
    dispose: () => {
      clearTimeout(timer);
      o.parent?.removeEventListener("abort", onParent);
    },
  };
}
