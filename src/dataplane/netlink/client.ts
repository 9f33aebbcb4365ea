/**
 * The batch engine every netlink user in kipvs goes through: requests are written back to back
 * into one buffer and sent many per datagram, only the last of each send asks for an
 * acknowledgement, and the kernel's error replies (which it sends for any failing message,
 * acknowledged or not, tagged with its sequence number) are matched back to the requests. The
 * kernel handles the messages in order during the send, so once the last one is acknowledged
 * every request without an error reply has succeeded.
 *
 * Dumps cannot be batched that way: the kernel runs one dump at a time per socket and makes a
 * dump's next part (its NLMSG_DONE included) only when the part before is received, so a
 * second dump request in the same send is refused with EBUSY. {@link NetlinkClient.dumpEach}
 * pipelines them instead: send, receive, send, ... chained in one io_uring system call.
 *
 * No call holds the event loop while it waits: the kernel handles requests during the send, so
 * their answers are queued when it returns and a receive that does not wait takes them; when
 * nothing is queued yet, the client waits on timers (1 ms, doubling up to 50 ms) until the reply
 * timeout. Between sends and received datagrams it awaits {@link pace}, so a batch of 100,000
 * requests or a dump of 50,000 entries lets the loop run every slice.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { pace } from "../../pace.ts";
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR } from "./constants.ts";
import { type DumpCounters, type DumpEachOptions, DumpRun } from "./_dumps.ts";
import { SendBudget } from "./_budget.ts";
import { ERRNO, netlinkErrno, netlinkError } from "./errno.ts";
import { PIPELINE_MAX_SENDS } from "./pipeline.ts";
import { MessageCursor, type MessageRef } from "./reader.ts";
import {
  type Datagram,
  NetlinkSocket,
  type NetlinkSocketOptions,
  type Received,
} from "./socket.ts";
import { MessageWriter } from "./writer.ts";

export type { DumpCounters, DumpEachOptions } from "./_dumps.ts";

/** Writes one request: call `w.begin(type, flags, seq)`, the payload, then `w.end()`. */
export type Encode<T> = (w: MessageWriter, item: T, flags: number, seq: number) => void;

/**
 * What the client needs of a socket: {@link NetlinkSocket}, or a scripted one in unit tests.
 * Without `pipeline`, dumps go one by one.
 */
export type NetlinkTransport =
  & Pick<
    NetlinkSocket,
    | "send"
    | "receive"
    | "view"
    | "sendBufferBytes"
    | "receiveBufferBytes"
    | "resolveFamily"
    | "close"
  >
  & Partial<Pick<NetlinkSocket, "pipeline" | "pipelineUnavailable" | "strictChecking">>;

/** Options of {@link NetlinkClient}. */
export interface NetlinkClientOptions extends NetlinkSocketOptions {
  /** Use this transport instead of opening a socket (unit tests, captures). */
  transport?: NetlinkTransport;
  /** Most requests in one send (default 512; fewer when the receive buffer is small). */
  maxPerSend?: number;
  /**
   * Fewer requests per send when one send keeps the kernel busier than this, ms (default 10 on
   * a socket; 0, no limit, on a given transport, whose time is not the kernel's: unit tests and
   * captures then split sends the same way on any machine). See {@link SendBudget}.
   */
  sendBudgetMs?: number;
  /** How long to wait for the kernel's answer to a send, ms (default 10 s). */
  replyTimeoutMs?: number;
  /** The first sequence number (default random), for replaying captured conversations. */
  firstSeq?: number;
}

/** Errno of a request whose outcome is unknown because its error reply may have been dropped. */
export const OUTCOME_UNKNOWN = ERRNO.ENOBUFS;

// The kernel charges a reply's whole buffer (about 1 KiB for a capped error) to the receive
// buffer; keep the worst case of one send (every request failing) within half of it.
const REPLY_COST = 2048;

// A GET's answer is made in a buffer of its own of about a page (NLMSG_DEFAULT_SIZE): charge it
// twice that, so that the answers of one send fit in half of the receive buffer.
const DATA_REPLY_COST = 8192;

/** Longest timer between two looks at a socket whose answer has not come yet, ms. */
const MAX_WAIT_MS = 50;

/** Takes the answer to the request of index `index` of a send. */
type OnData = (index: number, view: DataView, msg: MessageRef) => void;

/** Sends requests over one netlink socket, alone, in batches, or as dumps. */
export class NetlinkClient {
  #sock: NetlinkTransport;
  #w = new MessageWriter();
  #seq: number;
  #sent = 0;
  #maxPerSend: number;
  #budget: SendBudget;
  #maxBytes: number;
  #timeoutMs: number;
  #counters: DumpCounters = {
    pipelinedRuns: 0,
    pipelinedDumps: 0,
    busyRetries: 0,
    sequentialDumps: 0,
  };
  /** Walks received messages; hot loops reuse it rather than allocate one object a message. */
  #m = new MessageCursor();

  constructor(options: NetlinkClientOptions) {
    this.#sock = options.transport ?? NetlinkSocket.open(options);
    this.#seq = (options.firstSeq ?? Math.floor(Math.random() * 0x7fff_ffff)) >>> 0;
    this.#maxPerSend = Math.max(
      1,
      Math.min(options.maxPerSend ?? 512, Math.floor(this.#sock.receiveBufferBytes / REPLY_COST)),
    );
    // netlink refuses a datagram longer than the send buffer minus a little.
    this.#maxBytes = Math.max(4096, Math.min(this.#sock.sendBufferBytes - 4096, 1 << 20));
    this.#timeoutMs = options.replyTimeoutMs ?? 10_000;
    const budgetMs = options.sendBudgetMs ?? (options.transport ? 0 : 10);
    this.#budget = new SendBudget(this.#maxPerSend, budgetMs);
  }

  /** The socket (for family resolution). */
  get socket(): NetlinkTransport {
    return this.#sock;
  }

  /** Netlink request messages sent so far. */
  get messagesSent(): number {
    return this.#sent;
  }

  /** Requests per send in {@link exchange}. */
  get maxPerSend(): number {
    return this.#maxPerSend;
  }

  /** How {@link dumpEach} went so far (a copy). */
  get dumpCounters(): DumpCounters {
    return { ...this.#counters };
  }

  /**
   * Sends every item as one request and returns one errno per item (0 for success), in order.
   * A failing request never stops the others. Items whose outcome was lost (the socket overran
   * or the acknowledgement never came) get {@link OUTCOME_UNKNOWN}.
   */
  exchange<T>(items: readonly T[], encode: Encode<T>, what: string): Promise<Int32Array> {
    return this.#batches(items, encode, what);
  }

  /**
   * Sends every item as a request that the kernel answers with one message (a GET without
   * DUMP), many per send, and passes each answer to `onReply` with the item's index (the view is
   * valid only during the call). Returns one errno per item, in order: 0 when its answer came,
   * the kernel's errno when it refused the request, {@link OUTCOME_UNKNOWN} when the answer was
   * lost (the socket overran): ask those again one by one.
   */
  requestEach<T>(
    items: readonly T[],
    encode: Encode<T>,
    what: string,
    onReply: OnData,
  ): Promise<Int32Array> {
    const max = Math.max(1, Math.floor(this.#sock.receiveBufferBytes / 2 / DATA_REPLY_COST));
    return this.#batches(items, encode, what, { onReply, max: Math.min(max, this.#maxPerSend) });
  }

  /** {@link exchange}, and {@link requestEach} when `data` takes the answers. */
  async #batches<T>(
    items: readonly T[],
    encode: Encode<T>,
    what: string,
    data?: { onReply: OnData; max: number },
  ): Promise<Int32Array> {
    const errnos = new Int32Array(items.length);
    let i = 0;
    while (i < items.length) {
      const first = this.#seq;
      const max = data ? Math.min(data.max, this.#budget.limit) : undefined;
      const count = this.#encodeSend(items, i, encode, max);
      if (count === 0) {
        // One request longer than the socket takes: the kernel's own answer would be EMSGSIZE.
        errnos[i++] = ERRNO.EMSGSIZE;
        continue;
      }
      const chunk = errnos.subarray(i, i + count);
      i += count;
      try {
        const t = performance.now();
        this.#sock.send(this.#w.bytes(), what);
        this.#budget.record(count, performance.now() - t);
      } catch (err) {
        // A refused send delivered nothing: every request in it failed alike; go on.
        chunk.fill(netlinkErrno(err) ?? ERRNO.EIO);
        continue;
      }
      this.#sent += count;
      const from = i - count;
      await this.#collect(first, chunk, data && ((k, view, m) => data.onReply(from + k, view, m)));
      await pace();
    }
    return errnos;
  }

  /**
   * Sends one request that the kernel answers with one message (a GET without DUMP) and
   * returns what `onReply` makes of it. An error reply throws a netlink error naming `what`.
   */
  async request<R>(
    encode: (w: MessageWriter, flags: number, seq: number) => void,
    what: string,
    onReply: (view: DataView, msg: MessageRef) => R,
  ): Promise<R> {
    const seq = this.#send1(encode, NLM_F_REQUEST, what);
    const view = this.#sock.view;
    const m = this.#m;
    for (;;) {
      for (const d of await this.#receive(what)) {
        m.reset(view, d.length, d.offset);
        while (m.next()) {
          if (m.seq !== seq) continue;
          if (m.type === NLMSG_ERROR) {
            const errno = -view.getInt32(m.offset + 16, true);
            throw errno === 0
              ? new KipvsError("netlink", `${what}: acknowledged without a reply`)
              : netlinkError({ what, errno });
          }
          return onReply(view, m);
        }
      }
    }
  }

  /**
   * Sends one datagram of several messages that share one sequence number (an nfnetlink
   * batch: BATCH_BEGIN, requests, BATCH_END, which the kernel applies as one transaction) and
   * waits for the first answer with that number: the first failing request's error, else the
   * acknowledgement of the one request that asks for it (NLM_F_ACK on the last). Returns the
   * errno, 0 for success. Later answers with the same number are skipped by later calls.
   */
  async transaction(
    encode: (w: MessageWriter, flags: number, seq: number) => void,
    what: string,
  ): Promise<number> {
    const seq = this.#send1(encode, NLM_F_REQUEST, what);
    const view = this.#sock.view;
    const m = this.#m;
    for (;;) {
      for (const d of await this.#receive(what)) {
        m.reset(view, d.length, d.offset);
        while (m.next()) {
          if (m.seq === seq && m.type === NLMSG_ERROR) return -view.getInt32(m.offset + 16, true);
        }
      }
    }
  }

  /**
   * Sends a dump request and passes every answer message to `onMessage` (valid only during
   * the call). An error reply throws a netlink error naming `what`.
   */
  async dump(
    encode: (w: MessageWriter, flags: number, seq: number) => void,
    what: string,
    onMessage: (view: DataView, msg: MessageRef) => void,
  ): Promise<void> {
    const seq = this.#send1(encode, NLM_F_REQUEST | NLM_F_DUMP, what);
    const view = this.#sock.view;
    const m = this.#m;
    for (;;) {
      for (const d of await this.#receive(what)) {
        m.reset(view, d.length, d.offset);
        while (m.next()) {
          if (m.seq !== seq) continue;
          if (m.type === NLMSG_DONE) return;
          if (m.type === NLMSG_ERROR) {
            const errno = -view.getInt32(m.offset + 16, true);
            if (errno === 0) return;
            throw netlinkError({ what, errno });
          }
          onMessage(view, m);
        }
      }
      // The kernel makes the next part when this one is received: nothing is lost meanwhile.
      await pace();
    }
  }

  /**
   * Runs one dump per item (`encode` writes its request) and passes each answer message to
   * `onMessage` with the item's index. Where the socket can pipeline (io_uring), up to 64 dumps
   * go in one system call: each request is sent when the answer to the one before has been
   * received, which ends short dumps; a request that meets a dump still running is refused
   * (EBUSY) and asked again in a later run, after the running one has been read to its end.
   * Elsewhere, dumps go one by one. An error answer throws a netlink error naming its item.
   */
  async dumpEach<T>(items: readonly T[], encode: Encode<T>, o: DumpEachOptions<T>): Promise<void> {
    let todo = items.map((_, i) => i);
    while (todo.length > 0) {
      const retry: number[] = [];
      for (let i = 0; i < todo.length; i += PIPELINE_MAX_SENDS) {
        const run = todo.slice(i, i + PIPELINE_MAX_SENDS);
        if (!(await this.#dumpRun(items, run, encode, o, retry))) {
          // No pipelining here: the rest one by one.
          for (const index of [...todo.slice(i), ...retry]) {
            await this.#dumpOne(items, index, encode, o);
          }
          return;
        }
        await pace();
      }
      this.#counters.busyRetries += retry.length;
      todo = retry;
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#sock.close();
  }

  /**
   * Writes the requests of one send, from `items[from]` on: as many as fit the socket and the
   * send budget's limit (at most {@link maxPerSend}), the last asking for an acknowledgement; returns how many, 0 when the
   * first alone is too long. Takes their sequence numbers.
   */
  #encodeSend<T>(
    items: readonly T[],
    from: number,
    encode: Encode<T>,
    max = this.#budget.limit,
  ): number {
    const w = this.#w;
    w.reset();
    const first = this.#seq;
    let count = 0;
    let lastStart = 0;
    while (from + count < items.length && count < max) {
      const before = w.length;
      encode(w, items[from + count] as T, NLM_F_REQUEST, (first + count) >>> 0);
      if (w.length > this.#maxBytes && count > 0) {
        w.truncate(before); // it opens the next send
        break;
      }
      lastStart = before;
      count++;
      if (w.length >= this.#maxBytes) break;
    }
    if (w.length > this.#maxBytes) return 0;
    w.addFlags(lastStart, NLM_F_ACK);
    this.#seq = (first + count) >>> 0;
    return count;
  }

  /**
   * One pipelined run of the dumps of `run` (indexes into `items`); refused ones are added to
   * `retry`. False when the socket cannot pipeline.
   */
  async #dumpRun<T>(
    items: readonly T[],
    run: readonly number[],
    encode: Encode<T>,
    o: DumpEachOptions<T>,
    retry: number[],
  ): Promise<boolean> {
    const pipeline = this.#sock.pipeline;
    if (!pipeline) return false;
    const w = this.#w;
    w.reset();
    const first = this.#seq;
    const ends: number[] = [];
    for (let k = 0; k < run.length; k++) {
      encode(w, items[run[k] as number] as T, NLM_F_REQUEST | NLM_F_DUMP, (first + k) >>> 0);
      ends.push(w.length);
    }
    this.#seq = (first + run.length) >>> 0;
    const head = o.what(items[run[0] as number] as T);
    const what = run.length > 1 ? `${head} and ${run.length - 1} more` : head;
    const req = { bytes: w.bytes(), ends, receivesPerSend: 2, timeoutMs: this.#timeoutMs };
    const r = pipeline.call(this.#sock, req, what);
    if (!r) return false;
    this.#sent += run.length;
    this.#counters.pipelinedRuns++;
    this.#counters.pipelinedDumps += run.length;
    const answers = new DumpRun({
      first,
      count: run.length,
      onMessage: (k, view, m) => o.onMessage(run[k] as number, view, m),
      onError: (k, errno) => {
        throw netlinkError({ what: o.what(items[run[k] as number] as T), errno });
      },
    });
    answers.takeAll(r.view, r.datagrams, this.#m);
    // What the chain's receives left (a long dump's later parts, answers queued behind them)
    // is read the ordinary way; receiving also makes a running dump go on to its end.
    while (!answers.settled) answers.takeAll(this.#sock.view, await this.#receive(what), this.#m);
    for (const k of answers.refused()) retry.push(run[k] as number);
    return true;
  }

  async #dumpOne<T>(
    items: readonly T[],
    index: number,
    encode: Encode<T>,
    o: DumpEachOptions<T>,
  ): Promise<void> {
    const item = items[index] as T;
    this.#counters.sequentialDumps++;
    await this.dump(
      (w, flags, seq) => encode(w, item, flags, seq),
      o.what(item),
      (view, m) => o.onMessage(index, view, m),
    );
  }

  #send1(
    encode: (w: MessageWriter, flags: number, seq: number) => void,
    flags: number,
    what: string,
  ): number {
    const seq = this.#seq;
    this.#seq = (seq + 1) >>> 0;
    this.#w.reset();
    encode(this.#w, flags, seq);
    this.#sock.send(this.#w.bytes(), what);
    this.#sent++;
    return seq;
  }

  /** The next datagrams; throws when the socket overran or nothing came within the timeout. */
  async #receive(what: string): Promise<readonly Datagram[]> {
    const r = await this.#await(this.#timeoutMs);
    if (r.kind === "data") return r.datagrams;
    if (r.kind === "overrun") throw netlinkError({ what, errno: ERRNO.ENOBUFS });
    throw netlinkError({ what, errno: ERRNO.ETIMEDOUT, hint: "no answer from the kernel" });
  }

  /**
   * What the socket has received, waiting up to `timeoutMs` for it on timers (see the module's
   * comment), never in a blocking call.
   */
  async #await(timeoutMs: number): Promise<Received> {
    let r = this.#sock.receive(0);
    if (r.kind !== "timeout" || timeoutMs <= 0) return r;
    const deadline = performance.now() + timeoutMs;
    for (let waitMs = 1;; waitMs = Math.min(waitMs * 2, MAX_WAIT_MS)) {
      const left = deadline - performance.now();
      if (left <= 0) return r;
      await new Promise((done) => setTimeout(done, Math.min(waitMs, left)));
      r = this.#sock.receive(0);
      if (r.kind !== "timeout") return r;
    }
  }

  /**
   * Reads replies to the send whose first sequence number is `first` into `out`; answers that
   * are not errors go to `onData` (and count as success).
   */
  async #collect(first: number, out: Int32Array, onData?: OnData): Promise<void> {
    const count = out.length;
    out.fill(-1); // -1: no reply seen yet
    let lost = false;
    let waitMs = this.#timeoutMs;
    for (;;) {
      const r = await this.#await(waitMs);
      if (r.kind === "overrun") {
        // Replies were dropped: drain what is queued, then call the silent ones unknown.
        lost = true;
        waitMs = 0;
        continue;
      }
      if (r.kind === "timeout") {
        lost = true;
        break;
      }
      if (this.#takeReplies(r.datagrams, first, out, onData)) break;
    }
    const silent = lost ? OUTCOME_UNKNOWN : 0;
    for (let k = 0; k < count; k++) if (out[k] === -1) out[k] = silent;
  }

  /** Records the error replies among `datagrams` in `out`; true once the last one's came. */
  #takeReplies(
    datagrams: readonly Datagram[],
    first: number,
    out: Int32Array,
    onData?: OnData,
  ): boolean {
    const count = out.length;
    let done = false;
    const view = this.#sock.view;
    const m = this.#m;
    for (const d of datagrams) {
      m.reset(view, d.length, d.offset);
      while (m.next()) {
        const idx = (m.seq - first) >>> 0;
        if (idx >= count) continue; // a late reply to an earlier send
        if (m.type !== NLMSG_ERROR) {
          if (onData) {
            onData(idx, view, m);
            out[idx] = 0;
          }
          continue;
        }
        out[idx] = -view.getInt32(m.offset + 16, true);
        if (idx === count - 1) done = true;
      }
    }
    return done;
  }
}
