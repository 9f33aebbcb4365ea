/**
 * Waiting in tests for something asynchronous to become true.
 *
 * @module
 */

/** Polls `cond` every 5 ms until it holds; throws naming `what` after `timeoutMs` (default 5 s). */
export async function waitFor(
  what: string,
  cond: () => boolean,
  timeoutMs = 5_000,
): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
