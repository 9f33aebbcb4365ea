/**
 * The parse worker: reads, decodes, parses and validates manifest files off the main thread, so
 * that no file, however large or hostile, holds up syncs, healthz or metrics (its thread runs at
 * a lower priority, see `_nice.ts`, so it does not on a single CPU either). It notes in shared
 * memory which file it is on (the pool times files one by one) and answers every 50 ms and at
 * the end of a batch. Objects travel as JSON text, which the main thread's JSON.parse turns
 * into compact objects (see `_compact.ts`); a file of many objects sends them in parts of about
 * 500, each parsed on its own, so that no single message holds the main thread long.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { describeError, KipvsError } from "../errors.ts";
import { loadFile } from "./_manifest_load.ts";
import { readBounded } from "./_manifest_reader.ts";
import { lowerThreadPriority } from "./_nice.ts";
import type {
  FileReply,
  ParseJob,
  ParseReply,
  ParseRequest,
  WorkerOptions,
} from "./_parse_pool.ts";

/** How long answers wait to go out together, ms. */
const ANSWER_MS = 50;
/** Objects per part of a file's objects. */
const PART = 500;

let progress: Int32Array<ArrayBufferLike> = new Int32Array(2);

lowerThreadPriority();

self.onmessage = (e: MessageEvent<ParseRequest>) => {
  if ("progress" in e.data) {
    progress = new Int32Array(e.data.progress);
    return;
  }
  const { batch, jobs, options } = e.data;
  let from = 0;
  let files: FileReply[] = [];
  let sent = performance.now();
  const flush = (next: number) => {
    if (files.length > 0) post({ batch, from, files });
    from = next;
    files = [];
    sent = performance.now();
  };
  jobs.forEach((job, index) => {
    Atomics.store(progress, 0, batch);
    Atomics.store(progress, 1, index);
    const reply = readAndParse(job, options, (part) => {
      flush(index); // the answers before this file go first
      post({ batch, part });
    });
    files.push(reply);
    if (index === jobs.length - 1 || performance.now() - sent > ANSWER_MS) flush(index + 1);
  });
};

function post(reply: ParseReply): void {
  self.postMessage(reply);
}

function readAndParse(
  job: ParseJob,
  options: WorkerOptions,
  sendPart: (json: string) => void,
): FileReply {
  const bytes = readBounded(job.file, job.sig, options.maxFileBytes);
  if (!(bytes instanceof Uint8Array)) return bytes as FileReply;
  try {
    const { objects, ...rest } = loadFile(bytes, job.file, options);
    let at = 0;
    for (; objects.length - at > PART; at += PART) {
      sendPart(JSON.stringify(objects.slice(at, at + PART)));
    }
    const json = JSON.stringify(objects.slice(at));
    return { kind: "loaded", load: { ...rest, objects: [] }, json };
  } catch (err) {
    // Anything but our own error is a bug or a limit of the runtime (a RangeError): the file
    // is reported, the worker goes on.
    const known = err instanceof KipvsError;
    return {
      kind: "failed",
      error: known ? err.message : `cannot parse ${job.file}: ${describeError(err)}`,
    };
  }
}
