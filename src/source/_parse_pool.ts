/**
 * Up to two parse workers (see `_parse_worker.ts`) that manifest files are handed to, in
 * batches. Each file has a time bound: a worker that spends longer on one file is terminated,
 * the file is reported as too slow to parse, and the files queued behind it go to a fresh
 * worker. With a second worker, one slow file does not hold up the others.
 *
 * @module
 */

import type { FileLoad, LoadFileOptions } from "./_manifest_load.ts";

/**
 * One file to parse. Its bytes are copied to the worker (kept here until it answers, so that a
 * file queued behind a slow one can go to another worker).
 */
export interface ParseJob {
  file: string;
  bytes: Uint8Array;
}

/** What became of one file. */
export type ParseOutcome =
  | { ok: true; load: FileLoad }
  | { ok: false; error: string };

/**
 * A message to a worker: a batch of files, or (first) the shared memory where the worker keeps
 * which file of which batch it is on: the pool reads it when a file's time is up.
 */
export type ParseRequest =
  | { batch: number; jobs: ParseJob[]; options: LoadFileOptions }
  | { progress: SharedArrayBuffer };

/** A worker's answer for one file (`json`: the load's objects as JSON text). */
export type FileReply =
  | { ok: true; load: FileLoad; json: string }
  | { ok: false; error: string };

/** A worker's answers for files `from`, `from + 1`, ... of a batch. */
export interface ParseReply {
  batch: number;
  from: number;
  files: FileReply[];
}

/** Options of {@link ParsePool}. */
export interface ParsePoolOptions extends LoadFileOptions {
  /** Workers at most (default 2). */
  maxWorkers?: number;
  /** Time bound of one file of `bytes` bytes, ms (default {@link parseTimeLimitMs}). */
  timeLimitMs?: (bytes: number) => number;
}

/**
 * The default time bound of one file: 10 s, and 4 s per MiB above 2.5 MiB. js-yaml reads a few
 * MB a second on a loaded host and ten times less in a small VM; no valid file comes near it.
 */
export function parseTimeLimitMs(bytes: number): number {
  return Math.max(10_000, (4_000 * bytes) / (1 << 20));
}

/** Files per message to a worker, and their bytes at most. */
const BATCH_JOBS = 64;
const BATCH_BYTES = 4 << 20;

interface Pending {
  job: ParseJob;
  size: number;
  resolve: (o: ParseOutcome) => void;
}

interface Slot {
  worker: Worker;
  /** [batch, index]: the file the worker is on (written by the worker). */
  progress: Int32Array<SharedArrayBuffer>;
  /** The batch it works on, and how many of its files are answered. */
  batch?: { id: number; items: Pending[]; done: number };
  timer?: ReturnType<typeof setTimeout>;
  /** The index of the file the timer runs for. */
  timing?: number;
}

/** Parse workers, started on demand, with a time bound per file. */
export class ParsePool {
  #o: ParsePoolOptions;
  #queue: Pending[] = [];
  #slots: Slot[] = [];
  #batches = 0;
  #closed = false;
  /** Bytes handed to the pool and not answered yet. */
  #bytes = 0;
  #drained: (() => void)[] = [];

  constructor(options: ParsePoolOptions) {
    this.#o = options;
  }

  /** Bytes queued or being parsed. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /** Resolves once fewer than `bytes` bytes are queued or being parsed. */
  async below(bytes: number): Promise<void> {
    while (this.#bytes >= bytes && !this.#closed) {
      await new Promise<void>((r) => this.#drained.push(r));
    }
  }

  /** Parses one file; never rejects (a failure is an outcome). */
  parse(job: ParseJob): Promise<ParseOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, error: "the parse pool is closed" });
    return new Promise((resolve) => {
      this.#bytes += job.bytes.byteLength;
      this.#queue.push({ job, size: job.bytes.byteLength, resolve });
      this.#dispatch();
    });
  }

  /** Terminates the workers; files not yet answered are answered with an error. */
  close(): void {
    this.#closed = true;
    for (const s of this.#slots) this.#retire(s);
    for (const p of this.#queue.splice(0)) p.resolve({ ok: false, error: "stopped" });
    for (const r of this.#drained.splice(0)) r();
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#slots.find((s) => !s.batch) ??
        (this.#slots.length < (this.#o.maxWorkers ?? 2) ? this.#spawn() : undefined);
      if (!slot) return;
      const items: Pending[] = [];
      let bytes = 0;
      while (this.#queue.length > 0 && items.length < BATCH_JOBS && bytes < BATCH_BYTES) {
        const p = this.#queue.shift()!;
        items.push(p);
        bytes += p.size;
      }
      const id = ++this.#batches;
      slot.batch = { id, items, done: 0 };
      const { nodeName, limits, debug } = this.#o;
      const options = { nodeName, limits, debug };
      const request: ParseRequest = { batch: id, jobs: items.map((p) => p.job), options };
      slot.worker.postMessage(request);
      this.#arm(slot, 0);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./_parse_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const slot: Slot = { worker, progress: new Int32Array(new SharedArrayBuffer(8)) };
    worker.postMessage({ progress: slot.progress.buffer as SharedArrayBuffer });
    worker.onmessage = (e: MessageEvent<ParseReply>) => this.#answer(slot, e.data);
    worker.onerror = (e) => {
      e.preventDefault(); // the worker's error is the file's, not the process's
      const on = Atomics.load(slot.progress, 1);
      this.#fail(slot, Math.max(on, slot.batch?.done ?? 0), `the parser failed: ${e.message}`);
    };
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Times file `index` of the slot's batch. When the time is up and the worker is still on that
   * file (its progress says so), the file fails; if it has moved on, the file it is on now gets
   * its own time.
   */
  #arm(slot: Slot, index: number): void {
    clearTimeout(slot.timer);
    const b = slot.batch;
    const item = b?.items[index];
    if (!b || !item) return;
    const limit = (this.#o.timeLimitMs ?? parseTimeLimitMs)(item.size);
    slot.timing = index;
    slot.timer = setTimeout(() => {
      const on = Atomics.load(slot.progress, 0) === b.id ? Atomics.load(slot.progress, 1) : 0;
      if (on > index || b.done > index) return this.#arm(slot, Math.max(on, b.done));
      this.#fail(slot, index, `parsing took longer than ${(limit / 1000).toFixed(0)} s`);
    }, limit);
  }

  #answer(slot: Slot, reply: ParseReply): void {
    const b = slot.batch;
    if (!b || reply.batch !== b.id || reply.from !== b.done) return;
    for (const r of reply.files) {
      const p = b.items[b.done++]!;
      this.#settle(p, r.ok ? { ok: true, load: { ...r.load, objects: JSON.parse(r.json) } } : r);
    }
    if (b.done === b.items.length) {
      clearTimeout(slot.timer);
      slot.batch = undefined;
      this.#dispatch();
    }
  }

  /**
   * File `index` of the slot's batch failed (too slow, or the worker died): it is answered
   * with `error`, the worker is terminated, and the files after it are queued again first.
   */
  #fail(slot: Slot, index: number, error: string): void {
    const b = slot.batch;
    this.#retire(slot);
    if (b) {
      // Answered in the worker but not here yet: parsed again, like those after the failure.
      const current = b.items[index];
      if (current) {
        this.#settle(current, { ok: false, error: `cannot parse ${current.job.file}: ${error}` });
      }
      this.#queue.unshift(...b.items.slice(b.done, index), ...b.items.slice(index + 1));
    }
    if (!this.#closed) this.#dispatch();
  }

  #retire(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.worker.terminate();
    this.#slots = this.#slots.filter((s) => s !== slot);
  }

  #settle(p: Pending, outcome: ParseOutcome): void {
    this.#bytes -= p.size;
    p.resolve(outcome);
    for (const r of this.#drained.splice(0)) r();
  }
}
