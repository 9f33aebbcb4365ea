/**
 * The parse workers (see `_parse_worker.ts`): manifest files are read, decoded, parsed and
 * validated there, in batches, and the main thread only receives the objects.
 *
 * - Two lanes, one worker each: files up to 64 KiB, and larger ones. A large file, however long
 *   it takes, never holds up the small ones (one Service's file is a few KiB).
 * - Workers stay once started: starting one holds the calling thread for tens of milliseconds
 *   on a host (its JavaScript heap is made there), most of a second in a small VM. The first
 *   lane's starts with the pool ({@link ParsePool.start}), before a running agent has syncs to
 *   make; the second's with the first large file (most nodes never have one). Each costs
 *   about 10 MB.
 * - Each file has a time bound: a worker that spends longer on one file (it notes in shared
 *   memory which one it is on) is terminated, the file is reported as too slow to parse, and the
 *   files queued behind it go to a fresh worker.
 *
 * @module
 */

import type { FileLoad, LoadFileOptions } from "./_manifest_load.ts";
import type { FileResult } from "./_manifest_reader.ts";

/** One file to read and parse: its path, its signature when listed and its size then. */
export interface ParseJob {
  file: string;
  sig: string;
  size: number;
}

/** What the worker is told besides the files. */
export interface WorkerOptions extends LoadFileOptions {
  /** Files larger than this are refused unread. */
  maxFileBytes: number;
}

/**
 * A message to a worker: a batch of files, or (first) the shared memory where the worker keeps
 * which file of which batch it is on, for the pool to read when a file takes long.
 */
export type ParseRequest =
  | { batch: number; jobs: ParseJob[]; options: WorkerOptions }
  | { progress: SharedArrayBuffer };

/** A worker's answer for one file (`json`: the load's objects as JSON text). */
export type FileReply =
  | Exclude<FileResult, { kind: "loaded" }>
  | { kind: "loaded"; load: FileLoad; json: string };

/**
 * A worker's answers for files `from`, `from + 1`, ... of a batch; or a part of the objects of
 * the file it is on (JSON text of some of its `[identity, object]` pairs), sent ahead of the
 * file's answer when the file defines many: the main thread parses them a part at a time.
 */
export type ParseReply =
  | { batch: number; from: number; files: FileReply[] }
  | { batch: number; part: string };

/** Options of {@link ParsePool}. */
export interface ParsePoolOptions extends WorkerOptions {
  /** Time bound of one file of `bytes` bytes, ms (default {@link parseTimeLimitMs}). */
  timeLimitMs?: (bytes: number) => number;
}

/**
 * The default time bound of one file, wall time: a minute, and 8 s more per MiB. It is a net
 * for what the other bounds do not foresee, not a budget: js-yaml reads a few MB a second on a
 * loaded host, ten times less in a small VM, and the worker runs at a lower priority, so on a
 * busy CPU a valid file of a few MiB can take tens of seconds.
 */
export function parseTimeLimitMs(bytes: number): number {
  return 60_000 + (8_000 * bytes) / (1 << 20);
}

/** Files larger than this go to the second lane. */
export const LARGE_FILE_BYTES = 64 << 10;
/** Files per message to a worker. */
const BATCH_JOBS = 64;

interface Pending {
  job: ParseJob;
  resolve: (r: FileResult) => void;
}

/** One lane: its queue and its worker, if running. */
interface Lane {
  queue: Pending[];
  worker?: Worker;
  /** [batch, index]: the file the worker is on (written by the worker). */
  progress: Int32Array<SharedArrayBuffer>;
  /** The batch the worker works on, and how many of its files are answered. */
  batch?: { id: number; items: Pending[]; done: number };
  /** Watches the file the worker is on; or, while idle, its retirement. */
  timer?: ReturnType<typeof setTimeout>;
  /** The objects received ahead of the answer of the file the worker is on. */
  parts: FileLoad["objects"];
}

/** Parse workers, started on demand, with a time bound per file. */
export class ParsePool {
  #o: ParsePoolOptions;
  #lanes: [Lane, Lane];
  #batches = 0;
  #closed = false;

  constructor(options: ParsePoolOptions) {
    this.#o = options;
    const lane = (): Lane => ({
      queue: [],
      progress: new Int32Array(new SharedArrayBuffer(8)),
      parts: [],
    });
    this.#lanes = [lane(), lane()];
  }

  /** Starts the first lane's worker now, rather than with the first file. */
  start(): void {
    if (this.#closed) return;
    this.#lanes[0].worker ??= this.#spawn(this.#lanes[0]);
  }

  /** Workers running now. */
  get workers(): number {
    return this.#lanes.filter((l) => l.worker).length;
  }

  /** Reads and parses one file; never rejects (a failure is a result). */
  parse(job: ParseJob): Promise<FileResult> {
    if (this.#closed) return Promise.resolve(stopped(job));
    return new Promise((resolve) => {
      const lane = this.#lanes[job.size > LARGE_FILE_BYTES ? 1 : 0];
      lane.queue.push({ job, resolve });
      this.#dispatch(lane);
    });
  }

  /** Terminates the workers; files not yet answered are answered with an error. */
  close(): void {
    this.#closed = true;
    for (const lane of this.#lanes) {
      const left = [...lane.batch?.items.slice(lane.batch.done) ?? [], ...lane.queue.splice(0)];
      this.#retire(lane);
      for (const p of left) p.resolve(stopped(p.job));
    }
  }

  #dispatch(lane: Lane): void {
    if (lane.batch || lane.queue.length === 0 || this.#closed) return;
    const worker = lane.worker ??= this.#spawn(lane);
    const items = lane.queue.splice(0, BATCH_JOBS);
    const id = ++this.#batches;
    lane.batch = { id, items, done: 0 };
    const { nodeName, limits, debug, maxFileBytes } = this.#o;
    const options = { nodeName, limits, debug, maxFileBytes };
    worker.postMessage({ batch: id, jobs: items.map((p) => p.job), options });
    this.#watch(lane, 0, performance.now());
  }

  #spawn(lane: Lane): Worker {
    const worker = new Worker(new URL("./_parse_worker.ts", import.meta.url).href, {
      type: "module",
    });
    Atomics.store(lane.progress, 0, 0);
    worker.postMessage({ progress: lane.progress.buffer });
    worker.onmessage = (e: MessageEvent<ParseReply>) => this.#answer(lane, e.data);
    worker.onerror = (e) => {
      e.preventDefault(); // the worker's error is the file's, not the process's
      this.#fail(lane, this.#current(lane), `the parser failed: ${e.message}`);
    };
    return worker;
  }

  /** The index of the file of its batch the worker is on. */
  #current(lane: Lane): number {
    const b = lane.batch;
    if (!b) return 0;
    const on = Atomics.load(lane.progress, 0) === b.id ? Atomics.load(lane.progress, 1) : 0;
    return Math.max(on, b.done);
  }

  /**
   * Times file `index` of the lane's batch, on since `since`: when its time bound is up and
   * the worker is still on it, the file fails. If the worker has moved on meanwhile, the file
   * it is on now is timed instead.
   */
  #watch(lane: Lane, index: number, since: number): void {
    clearTimeout(lane.timer);
    const b = lane.batch;
    const item = b?.items[index];
    if (!b || !item) return;
    const limit = (this.#o.timeLimitMs ?? parseTimeLimitMs)(item.job.size);
    lane.timer = setTimeout(() => {
      if (lane.batch !== b) return;
      const on = this.#current(lane);
      if (on > index) return this.#watch(lane, on, performance.now());
      if (performance.now() - since < limit) return this.#watch(lane, index, since);
      this.#fail(lane, index, `parsing took longer than ${duration(limit)}`);
    }, Math.max(1, limit - (performance.now() - since)));
  }

  #answer(lane: Lane, reply: ParseReply): void {
    const b = lane.batch;
    if (!b || reply.batch !== b.id) return;
    if ("part" in reply) {
      for (const o of JSON.parse(reply.part)) lane.parts.push(o);
      return;
    }
    if (reply.from !== b.done) return;
    for (const r of reply.files) {
      const p = b.items[b.done++]!;
      if (r.kind !== "loaded") {
        p.resolve(r);
        continue;
      }
      const objects = lane.parts;
      lane.parts = [];
      for (const o of JSON.parse(r.json)) objects.push(o);
      p.resolve({ kind: "loaded", load: { ...r.load, objects } });
    }
    if (b.done < b.items.length) return;
    clearTimeout(lane.timer);
    lane.batch = undefined;
    this.#dispatch(lane);
  }

  /**
   * File `index` of the lane's batch failed (too slow, or the worker died): it is answered with
   * `error`, the worker is terminated, and the other files not yet answered are queued again
   * first.
   */
  #fail(lane: Lane, index: number, error: string): void {
    const b = lane.batch;
    this.#retire(lane);
    if (b) {
      const current = b.items[index];
      current?.resolve({ kind: "failed", error: `cannot parse ${current.job.file}: ${error}` });
      lane.queue.unshift(...b.items.slice(b.done, index), ...b.items.slice(index + 1));
    }
    this.#dispatch(lane);
  }

  #retire(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.worker?.terminate();
    lane.worker = undefined;
    lane.batch = undefined;
    lane.parts = [];
  }
}

function stopped(job: ParseJob): FileResult {
  return { kind: "failed", error: `cannot parse ${job.file}: stopped` };
}

function duration(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
