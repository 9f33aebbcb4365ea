/**
 * Fakes of the ipset backend for unit tests, both over one {@link IpsetModel}:
 * {@link FakeIpset} implements {@link Ipset} directly and counts what it was asked to do;
 * {@link ipsetExecAnswer} answers `ipset save` / `ipset restore` for a {@link FakeExec}, so
 * {@link KernelIpset} itself can be tested against the model.
 *
 * @module
 */

import type { ExecCall, FakeAnswer } from "../../../src/dataplane/exec.ts";
import { IPSET, type Ipset, ipsetRestoreError } from "../../../src/dataplane/ipset/ipset.ts";
import { IpsetModel } from "./model.ts";
import { type IpsetOp, restoreText } from "../../../src/dataplane/ipset/ops.ts";
import { type IpsetSnapshot, parseIpsetSave } from "../../../src/dataplane/ipset/save.ts";

/** An {@link Ipset} over an in-memory model that answers like ipset 7.17. */
export class FakeIpset implements Ipset {
  readonly model: IpsetModel;
  /** The `ipset restore` text of every batch applied, in order. */
  readonly restores: string[] = [];
  /** How many times save was called. */
  saves = 0;

  constructor(model: IpsetModel = new IpsetModel()) {
    this.model = model;
  }

  save(): Promise<IpsetSnapshot> {
    this.saves++;
    return Promise.resolve(parseIpsetSave(this.model.saveText()));
  }

  apply(ops: readonly IpsetOp[]): Promise<void> {
    return this.restore(restoreText(ops));
  }

  /** Applies `ipset restore` text, as the program would. */
  restore(payload: string): Promise<void> {
    if (payload === "") return Promise.resolve();
    this.restores.push(payload);
    const res = this.model.restore(payload, { exist: true });
    return res.code === 0
      ? Promise.resolve()
      : Promise.reject(ipsetRestoreError(payload, res.stderr, res.code));
  }
}

/** A {@link FakeAnswer} that plays the `ipset` program over `model`; other programs get none. */
export function ipsetExecAnswer(model: IpsetModel): FakeAnswer {
  return (call: ExecCall) => {
    if (call.program !== IPSET) return undefined;
    const [cmd, ...rest] = call.args;
    if (cmd === "save" && rest.length === 0) return { code: 0, stdout: model.saveText() };
    if (cmd === "restore") {
      return model.restore(call.stdin ?? "", { exist: rest.includes("-exist") });
    }
    return { code: 1, stderr: `ipset v7.17: fake does not implement ${call.args.join(" ")}\n` };
  };
}
