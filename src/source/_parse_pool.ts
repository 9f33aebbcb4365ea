/**
 * The parse workers (see `_parse_worker.ts`) that manifest files are handed to, in batches.
 *
 * - One worker does the work. A second one starts only while the first has spent more than
 *   half a second on one file, so that a slow file does not hold up the others; it stops once
 *   it has been idle for a while (each worker is a JavaScript heap of its own).
 * - Each file has a time bound: a worker that spends longer on one file is terminated, the file
 *   is reported as too slow to parse, and the files queued behind it go to a fresh worker.
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
 * which file of which batch it is on, for the pool to read when a file takes long.
 */
export type ParseRequest =
  | { batch: number; jobs: ParseJob[]; options: LoadFileOptions }
  | { progress: SharedArrayBuffer };

/** A worker's answer for one file (`json`: the load's objects as JSON text). */
export type FileReply =
  | { ok: true; load: FileLoad; json: string }
  | { ok: false; error: string };

/**
 * A worker's answers for files `from`, `from + 1`, ... of a batch; or a part of the objects of
 * the file it is on (JSON text of some of its `[identity, object]` pairs), sent ahead of the
 * file's answer when the file defines many: the main thread parses them a part at a time.
 */
export type ParseReply =
  | { batch: number; from: number; files: FileReply[] }
  | { batch: number; part: string };

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
/** A worker on one file for longer than this is slow: another may start beside it. */
const SLOW_MS = 500;
/** A worker beyond the first stops after being idle this long. */
const IDLE_MS = 10_000;

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
  /** Watches the file the worker is on; or, while idle, its retirement. */
  timer?: ReturnType<typeof setTimeout>;
  /** On one file for more than {@link SLOW_MS}. */
  slow: boolean;
  /** The objects received ahead of the answer of the file the worker is on. */
  parts: FileLoad["objects"];
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

  /** Workers running now. */
  get workers(): number {
    return this.#slots.length;
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
    for (const s of this.#slots) {
      this.#retire(s);
      for (const p of s.batch?.items.slice(s.batch.done) ?? []) this.#stopped(p);
    }
    for (const p of this.#queue.splice(0)) this.#stopped(p);
    for (const r of this.#drained.splice(0)) r();
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const slot = this.#slots.find((s) => !s.batch) ?? this.#spawnIfAllSlow();
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
      slot.worker.postMessage({ batch: id, jobs: items.map((p) => p.job), options });
      this.#watch(slot, 0, performance.now());
    }
  }

  /** A new worker when there is none, or every one is slow and there is room for another. */
  #spawnIfAllSlow(): Slot | undefined {
    if (this.#slots.length >= (this.#o.maxWorkers ?? 2)) return undefined;
    if (!this.#slots.every((s) => s.slow)) return undefined;
    const worker = new Worker(new URL("./_parse_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const progress = new Int32Array(new SharedArrayBuffer(8));
    const slot: Slot = { worker, progress, slow: false, parts: [] };
    worker.postMessage({ progress: slot.progress.buffer });
    worker.onmessage = (e: MessageEvent<ParseReply>) => this.#answer(slot, e.data);
    worker.onerror = (e) => {
      e.preventDefault(); // the worker's error is the file's, not the process's
      this.#fail(slot, this.#current(slot), `the parser failed: ${e.message}`);
    };
    this.#slots.push(slot);
    return slot;
  }

  /** The index of the file of its batch the worker is on. */
  #current(slot: Slot): number {
    const b = slot.batch;
    if (!b) return 0;
    const on = Atomics.load(slot.progress, 0) === b.id ? Atomics.load(slot.progress, 1) : 0;
    return Math.max(on, b.done);
  }

  /**
   * Watches file `index` of the slot's batch, on since `since`: after {@link SLOW_MS} the
   * worker is slow (another may start), and when its time bound is up the file fails. If the
   * worker has moved on meanwhile, the file it is on now is watched instead.
   */
  #watch(slot: Slot, index: number, since: number): void {
    clearTimeout(slot.timer);
    slot.slow = false;
    const b = slot.batch;
    const item = b?.items[index];
    if (!b || !item) return;
    const limit = (this.#o.timeLimitMs ?? parseTimeLimitMs)(item.size);
    const check = () => {
      const on = this.#current(slot);
      if (slot.batch !== b) return;
      if (on > index) return this.#watch(slot, on, performance.now());
      const spent = performance.now() - since;
      if (spent >= limit) {
        return this.#fail(slot, index, `parsing took longer than ${duration(limit)}`);
      }
      if (spent >= SLOW_MS && !slot.slow) {
        slot.slow = true;
        this.#dispatch();
      }
      slot.timer = setTimeout(check, Math.min(limit - spent, SLOW_MS));
    };
    slot.timer = setTimeout(check, Math.min(limit, SLOW_MS));
  }

  #answer(slot: Slot, reply: ParseReply): void {
    const b = slot.batch;
    if (!b || reply.batch !== b.id) return;
    if ("part" in reply) {
      for (const o of JSON.parse(reply.part)) slot.parts.push(o);
      return;
    }
    if (reply.from !== b.done) return;
    for (const r of reply.files) {
      const p = b.items[b.done++]!;
      if (!r.ok) {
        this.#settle(p, r);
        continue;
      }
      const objects = slot.parts;
      slot.parts = [];
      for (const o of JSON.parse(r.json)) objects.push(o);
      this.#settle(p, { ok: true, load: { ...r.load, objects } });
    }
    if (b.done < b.items.length) return;
    clearTimeout(slot.timer);
    slot.batch = undefined;
    slot.slow = false;
    this.#dispatch();
    if (!slot.batch && this.#slots[0] !== slot) {
      slot.timer = setTimeout(() => this.#retire(slot), IDLE_MS);
    }
  }

  /**
   * File `index` of the slot's batch failed (too slow, or the worker died): it is answered
   * with `error`, the worker is terminated, and the other files not yet answered are queued
   * again first.
   */
  #fail(slot: Slot, index: number, error: string): void {
    const b = slot.batch;
    this.#retire(slot);
    if (b) {
      const current = b.items[index];
      if (current) {
        this.#settle(current, { ok: false, error: `cannot parse ${current.job.file}: ${error}` });
      }
      this.#queue.unshift(...b.items.slice(b.done, index), ...b.items.slice(index + 1));
    }
    this.#dispatch();
  }

  #retire(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.parts = [];
    slot.worker.terminate();
    this.#slots = this.#slots.filter((s) => s !== slot);
  }

  #stopped(p: Pending): void {
    p.resolve({ ok: false, error: `cannot parse ${p.job.file}: stopped` });
  }

  #settle(p: Pending, outcome: ParseOutcome): void {
    this.#bytes -= p.size;
    p.resolve(outcome);
    for (const r of this.#drained.splice(0)) r();
  }
}

function duration(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
