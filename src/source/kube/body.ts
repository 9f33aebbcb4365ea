/**
 * Reading response bodies so that an abort really ends them.
 *
 * In Deno 2.9.6 aborting a fetch's signal stops a body read that is in progress only until the
 * garbage collector has run: after a collection, a pending `read()` on a watch's body stays
 * pending forever (measured: three open watches, `gc()`, abort: no read settled in 2 s; without
 * the collection all three rejected at once). The fetch follows its signal through a dependent
 * signal that is only weakly held (denoland/deno#29075). So the readers here also cancel the
 * body themselves when the signal aborts, and then throw the abort's reason.
 *
 * @module
 */

function reasonOf(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("aborted", "AbortError");
}

/** A reader of `body` that is cancelled when `signal` aborts; `done()` unlinks it. */
function abortableReader(body: ReadableStream<Uint8Array>, signal?: AbortSignal) {
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    reader,
    done: () => signal?.removeEventListener("abort", onAbort),
  };
}

/**
 * Yields each non-empty line of newline-delimited JSON (a watch response), however the bytes
 * were chunked, and a last unterminated line. Throws the abort reason when `signal` aborts.
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const { reader, done: unlink } = abortableReader(body, signal);
  const decoder = new TextDecoder();
  let buf = "";
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw reasonOf(signal);
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let start = 0;
      let nl: number;
      while ((nl = buf.indexOf("\n", start)) >= 0) {
        const line = buf.slice(start, nl).trim();
        start = nl + 1;
        if (line !== "") yield line;
      }
      buf = buf.slice(start);
    }
    buf += decoder.decode();
    if (buf.trim() !== "") yield buf.trim();
  } finally {
    unlink();
    // Stops the body when the consumer leaves early; a cancel of a broken stream may throw.
    await reader.cancel().catch(() => {});
  }
}

/** The whole body as text; throws the abort reason when `signal` aborts first. */
export async function readText(
  body: ReadableStream<Uint8Array> | null,
  signal?: AbortSignal,
): Promise<string> {
  if (!body) return "";
  const { reader, done: unlink } = abortableReader(body, signal);
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw reasonOf(signal);
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return text + decoder.decode();
  } finally {
    unlink();
  }
}
