/**
 * The parse worker: decodes, parses and validates manifest files off the main thread, so that
 * no file, however large or hostile, holds up syncs, healthz or metrics. It notes in shared
 * memory which file it is on (the pool times files one by one) and answers every 50 ms and at
 * the end of a batch; objects travel as JSON text, which the main thread's JSON.parse turns
 * into compact objects (see `_compact.ts`).
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { describeError, KipvsError } from "../errors.ts";
import { loadFile } from "./_manifest_load.ts";
import type { FileReply, ParseRequest } from "./_parse_pool.ts";

/** How long answers wait to go out together, ms. */
const ANSWER_MS = 50;

let progress: Int32Array<ArrayBufferLike> = new Int32Array(2);

self.onmessage = (e: MessageEvent<ParseRequest>) => {
  if ("progress" in e.data) {
    progress = new Int32Array(e.data.progress);
    return;
  }
  const { batch, jobs, options } = e.data;
  let from = 0;
  let files: FileReply[] = [];
  let sent = performance.now();
  jobs.forEach((job, index) => {
    Atomics.store(progress, 0, batch);
    Atomics.store(progress, 1, index);
    files.push(parse(job.bytes, job.file, options));
    if (index === jobs.length - 1 || performance.now() - sent > ANSWER_MS) {
      self.postMessage({ batch, from, files });
      from = index + 1;
      files = [];
      sent = performance.now();
    }
  });
};

function parse(
  bytes: Uint8Array,
  file: string,
  options: Parameters<typeof loadFile>[2],
): FileReply {
  try {
    const { objects, ...rest } = loadFile(bytes, file, options);
    return { ok: true, load: { ...rest, objects: [] }, json: JSON.stringify(objects) };
  } catch (err) {
    // Anything but our own error is a bug or a limit of the runtime (a RangeError): the file
    // is reported, the worker goes on.
    const known = err instanceof KipvsError;
    return {
      ok: false,
      error: known ? err.message : `cannot parse ${file}: ${describeError(err)}`,
    };
  }
}
