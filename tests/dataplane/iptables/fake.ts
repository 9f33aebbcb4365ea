/**
 * Fakes of the iptables backend for unit tests, both over one {@link IptablesModel}:
 * {@link FakeIptables} implements {@link Iptables} and records what it was asked to do;
 * {@link iptablesExecAnswer} plays the save/restore programs for a {@link FakeExec}, so
 * {@link KernelIptables} itself can be tested against the model.
 *
 * @module
 */

import type { Family } from "../../../src/net/family.ts";
import type { ExecCall, FakeAnswer } from "../../../src/dataplane/exec.ts";
import { type Iptables, iptablesRestoreError } from "../../../src/dataplane/iptables/iptables.ts";
import { IptablesModel } from "./model.ts";
import { type IptablesSnapshot, parseIptablesSave } from "../../../src/dataplane/iptables/save.ts";

/** An {@link Iptables} over an in-memory model that answers like iptables 1.8.9 (legacy). */
export class FakeIptables implements Iptables {
  readonly model: IptablesModel;
  /** Every restore, in order. */
  readonly restores: { family: Family; payload: string }[] = [];
  /** How many times save was called. */
  saves = 0;
  #randomFully: boolean;

  constructor(options: { model?: IptablesModel; randomFully?: boolean } = {}) {
    this.model = options.model ?? new IptablesModel();
    this.#randomFully = options.randomFully ?? true;
  }

  save(family: Family): Promise<IptablesSnapshot> {
    this.saves++;
    return Promise.resolve(parseIptablesSave(this.model.saveText(family)));
  }

  restore(family: Family, payload: string): Promise<void> {
    if (payload === "") return Promise.resolve();
    this.restores.push({ family, payload });
    const res = this.model.restore(family, payload);
    const program = `${family === 4 ? "iptables" : "ip6tables"}-legacy-restore`;
    return res.code === 0
      ? Promise.resolve()
      : Promise.reject(iptablesRestoreError(program, payload, res));
  }

  hasRandomFully(): Promise<boolean> {
    return Promise.resolve(this.#randomFully);
  }
}

const PROGRAM = /^(ip6?)tables-(legacy|nft)-(save|restore)$/;

/** A {@link FakeAnswer} playing `ip[6]tables-{legacy,nft}-{save,restore}` over `model`. */
export function iptablesExecAnswer(model: IptablesModel): FakeAnswer {
  return (call: ExecCall) => {
    const m = PROGRAM.exec(call.program);
    if (!m) return undefined;
    const family: Family = m[1] === "ip6" ? 6 : 4;
    if (m[3] === "save") {
      if (call.args[0] === "--version") {
        return { code: 0, stdout: `${m[1]}tables-save v1.8.9 (${m[2]})\n` };
      }
      return { code: 0, stdout: model.saveText(family) };
    }
    if (!call.args.includes("--noflush")) {
      return { code: 2, stderr: "fake iptables-restore only supports --noflush\n" };
    }
    return model.restore(family, call.stdin ?? "");
  };
}
