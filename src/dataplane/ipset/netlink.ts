/**
 * {@link Ipset} whose writes go over netlink (NETLINK_NETFILTER, the ipset subsystem) in
 * batches, as kipvs writes IPVS: one message per op, hundreds per send, only
 * the last of each send acknowledged, errors matched back to their lines by sequence number.
 * In the test kernel, 25,000 adds took the `ipset` program 10.4 s and this 1.0 s (and reading
 * them back, `ipset save` 9.0 s and the dump 0.4 s).
 *
 * Writes are typed ops (ops.ts), encoded directly: no text is written or read back. Reads
 * (`save`) are one netlink dump too (dump.ts). What kipvs never writes goes to the program given
 * as `program`: ops on a set of a type kipvs does not create, or a member that does not fit its
 * set (a member read from `ipset save` in a form kipvs does not model), and a read of sets
 * holding such a form.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { NetlinkClient, type NetlinkTransport } from "../netlink/client.ts";
import { ERRNO, errnoName, netlinkErrno } from "../netlink/errno.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import { excerptLines } from "./_lines.ts";
import {
  beginIpset,
  decodeHeader,
  decodeProtocol,
  decodeTypeRevisions,
  nfproto,
  putCreate,
  putMember,
  putTypeQuery,
  type SetShape,
} from "./codec.ts";
import {
  CMD_ATTR,
  IPSET_CMD,
  IPSET_ERR,
  IPSET_PROTOCOL,
  IPSET_PROTOCOL_MIN,
  NETLINK_NETFILTER,
  NFPROTO,
} from "./constants.ts";
import { putSaveDump, SaveDecoder } from "./dump.ts";
import { memberMisfit } from "../members.ts";
import { ipsetErrnoName, ipsetErrorText, type IpsetVerb } from "./errtext.ts";
import type { Ipset } from "./ipset.ts";
import { type CreateOptions, type IpsetOp, restoreText } from "./ops.ts";
import type { IpsetSnapshot } from "./save.ts";
import { isSetType } from "./sets.ts";

/** Options of {@link NetlinkIpset.open}. */
export interface NetlinkIpsetOptions {
  /** Takes the ops and reads the sets netlink does not (the `ipset` program). */
  program: Ipset;
  /** Requests per send (default 512). */
  maxPerSend?: number;
  /** How long to wait for the kernel's answer, ms (default 10 s). */
  replyTimeoutMs?: number;
  /** A transport instead of a new socket (unit tests). */
  transport?: NetlinkTransport;
  /** The first netlink sequence number (default random). */
  firstSeq?: number;
}

/** One op with its 1-based place (its line in the `ipset restore` text of the batch). */
type Command = IpsetOp & { line: number };

/** One message to send: the command, the set's shape when it has members. */
interface Request {
  cmd: Command;
  /** For add/del: the set's type and family; undefined when the set does not exist. */
  shape?: SetShape;
  /** For create: the revision of the type to ask for. */
  revision?: number;
}

/** Why a batch of ops goes to the program instead. */
class Unsupported {
  constructor(readonly reason: string) {}
}

/** The ipsets of the network namespace the process is in when {@link open} runs. */
export class NetlinkIpset implements Ipset {
  #c: NetlinkClient;
  #program: Ipset;
  #protocol: number;
  /** Revision to create each type with, by "type/family" (the kernel's newest). */
  #revisions = new Map<string, number>();
  #delegated = 0;
  #savedByProgram = 0;

  private constructor(c: NetlinkClient, program: Ipset, protocol: number) {
    this.#c = c;
    this.#program = program;
    this.#protocol = protocol;
  }

  /**
   * Opens a netfilter netlink socket and asks the kernel's ipset protocol version. Throws
   * `kernel-unsupported` when the kernel has no ipset (or speaks a protocol older than 6).
   */
  static async open(options: NetlinkIpsetOptions): Promise<NetlinkIpset> {
    let c: NetlinkClient | undefined;
    try {
      c = new NetlinkClient({ protocol: NETLINK_NETFILTER, ...options });
      const got = await c.request(
        (w, flags, seq) => {
          beginIpset(w, { protocol: IPSET_PROTOCOL, cmd: IPSET_CMD.PROTOCOL, flags, seq });
          w.end();
        },
        "ask the kernel's ipset protocol",
        decodeProtocol,
      );
      const protocol = Math.min(got.max, IPSET_PROTOCOL);
      if (protocol < IPSET_PROTOCOL_MIN || got.min > IPSET_PROTOCOL) {
        throw new KipvsError(
          "kernel-unsupported",
          `the kernel speaks ipset protocol ${got.min}-${got.max}, kipvs ${IPSET_PROTOCOL_MIN}-${IPSET_PROTOCOL}`,
        );
      }
      return new NetlinkIpset(c, options.program, protocol);
    } catch (err) {
      c?.close();
      if (err instanceof KipvsError && err.code === "kernel-unsupported") throw err;
      throw new KipvsError(
        "kernel-unsupported",
        `ipset over netlink unavailable: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** Netlink messages sent so far. */
  get messagesSent(): number {
    return this.#c.messagesSent;
  }

  /** The ipset protocol version in use (6 or 7). */
  get protocol(): number {
    return this.#protocol;
  }

  /** Batches handed to the program because they held an op netlink does not take. */
  get delegated(): number {
    return this.#delegated;
  }

  /** `ipset save` runs since open: dumps holding a form kipvs does not decode. */
  get savedByProgram(): number {
    return this.#savedByProgram;
  }

  /**
   * Every set with its entries, from one netlink dump; through `ipset save` when a set holds
   * what the dump reader does not decode (a type or extension kipvs never creates).
   */
  async save(): Promise<IpsetSnapshot> {
    const d = new SaveDecoder();
    await this.#c.dump(
      (w, flags, seq) => putSaveDump(w, this.#protocol, flags, seq),
      "ipset save",
      (view, m) => d.take(view, m),
    );
    if (d.unsupported === undefined) return d.sets;
    this.#savedByProgram++;
    return await this.#program.save();
  }

  /**
   * Applies ops like `ipset restore -exist`. Messages go in sends of up to 512; a failure stops
   * after the send that holds it, so ops of that send after the failing one may have been
   * applied, later sends not. Throws a `netlink` KipvsError naming the first failing op (as
   * line N of the batch's `ipset restore` text) with its neighbours and the kernel's answer
   * (`details.errno`, `details.line`).
   */
  async apply(ops: readonly IpsetOp[]): Promise<void> {
    if (ops.length === 0) return;
    const commands = ops.map((op, i): Command => ({ ...op, line: i + 1 }));
    const requests = await this.#prepare(ops, commands);
    if (requests instanceof Unsupported) {
      this.#delegated++;
      return await this.#program.apply(ops);
    }
    await this.#send(ops, requests);
  }

  /** Closes the socket. */
  close(): void {
    this.#c.close();
  }

  /**
   * Learns each set's shape (from the batch's creates, else from the kernel) and checks every
   * member against it; the revision of each type created. A member that does not fit or a set
   * of a type kipvs does not write makes the batch the program's.
   */
  async #prepare(ops: readonly IpsetOp[], commands: Command[]): Promise<Request[] | Unsupported> {
    const shapes = new Map<string, SetShape | undefined>();
    const out: Request[] = [];
    for (const cmd of commands) {
      if (cmd.op === "create") {
        const { type, family } = cmd.create;
        shapes.set(cmd.set, { type, family: family ?? 4 });
        out.push({ cmd, revision: await this.#revision(ops, cmd) });
      } else if (cmd.op === "add" || cmd.op === "del") {
        if (!shapes.has(cmd.set)) {
          const shape = await this.#header(ops, cmd);
          if (shape instanceof Unsupported) return shape;
          shapes.set(cmd.set, shape);
        }
        const shape = shapes.get(cmd.set);
        const misfit = shape && memberMisfit(shape.type, shape.family, cmd.member);
        if (misfit !== undefined) {
          return new Unsupported(`line ${cmd.line}: ${cmd.member.key} in ${cmd.set}: ${misfit}`);
        }
        out.push({ cmd, shape });
      } else {
        // After a destroy, adds without a create meet no set; the kernel says so in order.
        if (cmd.op === "destroy") shapes.set(cmd.set, undefined);
        out.push({ cmd });
      }
    }
    return out;
  }

  /** The shape of an existing set (undefined when there is none). */
  async #header(
    ops: readonly IpsetOp[],
    cmd: Command,
  ): Promise<SetShape | undefined | Unsupported> {
    try {
      const h = await this.#c.request(
        (w, flags, seq) => {
          beginIpset(w, { protocol: this.#protocol, cmd: IPSET_CMD.HEADER, flags, seq });
          w.string(CMD_ATTR.SETNAME, cmd.set);
          w.end();
        },
        `read the header of set ${cmd.set}`,
        decodeHeader,
      );
      if (!isSetType(h.type)) return new Unsupported(`set ${cmd.set} is of type ${h.type}`);
      return { type: h.type, family: h.family === NFPROTO.IPV6 ? 6 : 4 };
    } catch (err) {
      const errno = netlinkErrno(err);
      if (errno === ERRNO.ENOENT) return undefined;
      throw restoreError({ ops, cmd, errno: errno ?? ERRNO.EIO, verb: "header", cause: err });
    }
  }

  /** The newest revision of the created type this kernel has (asked once per type). */
  async #revision(ops: readonly IpsetOp[], cmd: Command & { op: "create" }): Promise<number> {
    const o: CreateOptions = cmd.create;
    const key = `${o.type}/${nfproto(o.family)}`;
    const known = this.#revisions.get(key);
    if (known !== undefined) return known;
    try {
      const r = await this.#c.request(
        (w, flags, seq) => putTypeQuery(w, { protocol: this.#protocol, cmd: 0, flags, seq }, o),
        `ask the kernel for set type ${o.type}`,
        decodeTypeRevisions,
      );
      this.#revisions.set(key, r.max);
      return r.max;
    } catch (err) {
      const errno = netlinkErrno(err) ?? ERRNO.EIO;
      throw restoreError({ ops, cmd, errno, verb: "type", cause: err });
    }
  }

  /** Sends every request, a send at a time; throws on the first send that had a failure. */
  async #send(ops: readonly IpsetOp[], requests: Request[]): Promise<void> {
    const per = this.#c.maxPerSend;
    for (let at = 0; at < requests.length; at += per) {
      const chunk = requests.slice(at, at + per);
      const errnos = await this.#c.exchange(chunk, (w, r, flags, seq) => {
        this.#encode(w, r, flags, seq);
      }, "ipset restore");
      let first = -1;
      let failed = 0;
      for (let k = 0; k < chunk.length; k++) {
        const errno = errnos[k] as number;
        if (errno === 0 || ignored(chunk[k]!.cmd.op, errno)) continue;
        failed++;
        if (first < 0) first = k;
      }
      if (first >= 0) {
        const r = chunk[first]!;
        throw restoreError({
          ops,
          cmd: r.cmd,
          errno: errnos[first] as number,
          verb: r.cmd.op,
          setType: r.shape?.type ?? (r.cmd.op === "create" ? r.cmd.create.type : undefined),
          failed,
        });
      }
    }
  }

  #encode(w: MessageWriter, r: Request, flags: number, seq: number): void {
    const { cmd } = r;
    // No NLM_F_EXCL: the kernel then takes -exist semantics (an identical set, a present
    // entry added, an absent one deleted are not errors).
    beginIpset(w, { protocol: this.#protocol, cmd: CMD_OF[cmd.op], flags, seq });
    w.string(CMD_ATTR.SETNAME, cmd.set);
    if (cmd.op === "create") {
      putCreate(w, cmd.create, r.revision ?? 0);
    } else if (cmd.op === "add" || cmd.op === "del") {
      // A set that did not exist when the batch was prepared: an empty DATA nest, which the
      // kernel answers ENOENT (it looks the set up first) in the line's place.
      if (r.shape) putMember(w, cmd.member);
      else w.nestEnd(w.nestStart(CMD_ATTR.DATA));
    }
    w.end();
  }
}

const CMD_OF: Record<IpsetOp["op"], number> = {
  create: IPSET_CMD.CREATE,
  add: IPSET_CMD.ADD,
  del: IPSET_CMD.DEL,
  destroy: IPSET_CMD.DESTROY,
  flush: IPSET_CMD.FLUSH,
};

/**
 * Answers `ipset restore -exist` does not count as errors: IPSET_ERR_EXIST on an add or del
 * (the kernel already ignores it without NLM_F_EXCL), a destroyed set that was not there.
 */
function ignored(verb: IpsetOp["op"], errno: number): boolean {
  if (errno === IPSET_ERR.EXIST) return verb === "add" || verb === "del";
  return errno === ERRNO.ENOENT && verb === "destroy";
}

/** Options of {@link restoreError}. */
interface RestoreErrorOptions {
  ops: readonly IpsetOp[];
  cmd: Command;
  errno: number;
  verb: IpsetVerb;
  setType?: string;
  /** Lines refused in the same send. */
  failed?: number;
  cause?: unknown;
}

/**
 * "ipset restore over netlink failed at line 3: The set with the given name does not exist
 * (ENOENT)", then the line with its neighbours. A `netlink` error: `details.errno` holds the
 * kernel's answer (ipset's own numbers are 4096 and up), `details.line` the line.
 */
export function restoreError(o: RestoreErrorOptions): KipvsError {
  const reason = ipsetErrorText(o.errno, o.verb, o.setType);
  const more = (o.failed ?? 1) > 1 ? ` (and ${(o.failed ?? 1) - 1} more line(s) of its batch)` : "";
  const lines = excerptLines(restoreText(o.ops), o.cmd.line);
  return new KipvsError(
    "netlink",
    `ipset restore over netlink failed at line ${o.cmd.line}: ${reason}${more}\n${
      lines.join("\n")
    }`,
    {
      ...(o.cause === undefined ? {} : { cause: o.cause }),
      details: {
        operation: "ipset restore",
        line: o.cmd.line,
        set: o.cmd.set,
        errno: o.errno,
        errnoName: o.errno >= 4096 ? ipsetErrnoName(o.errno, o.setType) : errnoName(o.errno),
        ...(o.failed === undefined ? {} : { failed: o.failed }),
      },
    },
  );
}
