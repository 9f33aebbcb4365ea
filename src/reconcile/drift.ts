/**
 * Drift: a write to an object the previous sync had written or found correct, with no input
 * change for it. Someone else changed the kernel (kube-proxy still running, a CNI, an operator's
 * script) and kipvs put it back. {@link driftOf} picks those writes out of a sync's writes;
 * {@link DriftTracker} keeps the running story across syncs (counts by kind, the last drift,
 * how many syncs in a row found the same objects changed) and words it for logs and `/healthz`.
 *
 * A write is explained by the input when it touches an object that a changed service's plan
 * held before or holds now (its virtual servers and their real servers, its addresses and set
 * members), or when its reconciler knows it follows from the plan (a chain whose planned rules
 * changed, a drained real server deleted). The sync that adopts the kernel (the first after a
 * start, or after a failed one) has nothing to compare with and reports no drift.
 *
 * @module
 */

import type { ServicePlan } from "../plan/desired.ts";
import { virtualServerKey } from "../plan/desired.ts";
import { type Write, WRITE_KINDS, type WriteKind } from "./reconciler.ts";

/** The objects whose input changed since the last sync. */
export class InputChanges {
  /** Every object may have changed (a new node address, a relist): no write is drift. */
  all = false;
  readonly virtualServers = new Set<string>();
  readonly addresses = new Set<string>();
  /** "SET key". */
  readonly members = new Set<string>();

  /** Adds every object of a service's plan (its old one and its new one, in turn). */
  add(plan: ServicePlan | undefined): void {
    if (!plan) return;
    for (const vs of plan.virtualServers) this.virtualServers.add(virtualServerKey(vs));
    for (const a of plan.addresses) this.addresses.add(a);
    for (const e of plan.ipsetEntries) this.members.add(`${e.set} ${e.member.key}`);
  }

  /** Whether the input changed for the object `w` wrote. */
  explains(w: Write): boolean {
    if (this.all || w.planned) return true;
    switch (w.kind) {
      case "ipvs":
        return this.virtualServers.has(w.object);
      case "realserver":
        return this.virtualServers.has(w.parent ?? "");
      case "address":
        return this.addresses.has(w.object);
      case "ipset":
        // A set created or recreated: kipvs keeps every set of its families, whatever the input.
        return w.parent !== undefined && this.members.has(w.object);
      default:
        // kube-ipvs0 always exists; a rule write the plan explains says so itself (planned).
        return false;
    }
  }
}

/** The writes of a sync that repaired drift. */
export function driftOf(writes: readonly Write[], changes: InputChanges): Write[] {
  return writes.filter((w) => !changes.explains(w));
}

/** One sync's drift, as logs, metrics and `/healthz` report it. */
export interface DriftEvent {
  /** When the sync ended (ISO 8601). */
  at: string;
  /** Repairs by kind (kinds without any left out). */
  repairs: Partial<Record<WriteKind, number>>;
  /** What was repaired, a few sentences ("virtual server TCP/10.96.0.10:80 deleted by someone else"). */
  objects: string[];
  /** How many syncs in a row found some of the same objects changed (1: this one only). */
  syncsInARow: number;
  /** Who else writes, when kipvs can tell ("kube-proxy: its process is running"). */
  writer?: string;
}

/** Sentences of an event shown in full; the rest are counted. */
const SENTENCES = 5;
/** Object ids remembered from one drifted sync to the next (bounds the tracker's memory). */
const REMEMBERED = 4096;

/** Keeps the story of drift across syncs. */
export class DriftTracker {
  #totals: Partial<Record<WriteKind, number>> = {};
  #last: DriftEvent | undefined;
  #lastObjects = new Set<string>();
  #inARow = 0;

  /** Repairs counted since the start, by kind. */
  get totals(): Partial<Record<WriteKind, number>> {
    return { ...this.#totals };
  }

  /** The last sync that repaired drift. */
  get last(): DriftEvent | undefined {
    return this.#last;
  }

  /**
   * Takes one sync's drift. Returns its event, or undefined when it repaired nothing; a full
   * sync that repaired nothing ends a run of syncs in a row (an incremental one sees too little
   * to say).
   */
  record(drift: readonly Write[], o: { at: number; full: boolean }): DriftEvent | undefined {
    if (drift.length === 0) {
      if (o.full) {
        this.#inARow = 0;
        this.#lastObjects.clear();
      }
      return undefined;
    }
    const objects = new Set(drift.slice(0, REMEMBERED).map((w) => `${w.kind} ${w.object}`));
    const again = [...objects].some((k) => this.#lastObjects.has(k));
    this.#inARow = again ? this.#inARow + 1 : 1;
    this.#lastObjects = objects;
    const repairs: Partial<Record<WriteKind, number>> = {};
    for (const w of drift) repairs[w.kind] = (repairs[w.kind] ?? 0) + 1;
    for (const k of WRITE_KINDS) {
      if (repairs[k]) this.#totals[k] = (this.#totals[k] ?? 0) + repairs[k]!;
    }
    const sentences = describeDrift(drift);
    const shown = sentences.slice(0, SENTENCES);
    if (sentences.length > SENTENCES) shown.push(`and ${sentences.length - SENTENCES} more`);
    this.#last = {
      at: new Date(o.at).toISOString(),
      repairs,
      objects: shown,
      syncsInARow: this.#inARow,
    };
    return this.#last;
  }

  /** Names who else writes, on the last event. */
  setWriter(writer: string | undefined): void {
    if (this.#last && writer) this.#last.writer = writer;
  }
}

/** Sentences saying what someone else changed, one per object or group of members. */
export function describeDrift(drift: readonly Write[]): string[] {
  const out: string[] = [];
  const byGroup = new Map<string, Write[]>();
  for (const w of drift) {
    // Members of a set and real servers of a virtual server go in one sentence each.
    if (w.parent === undefined) {
      out.push(sentence(w));
      continue;
    }
    const g = `${w.kind} ${w.action} ${w.parent}`;
    const list = byGroup.get(g);
    if (list) list.push(w);
    else byGroup.set(g, [w]);
  }
  for (const list of byGroup.values()) out.push(groupSentence(list));
  return out;
}

const MISSING: Record<Write["action"], string> = {
  add: "missing",
  update: "changed by someone else",
  delete: "added by someone else",
};

function sentence(w: Write): string {
  switch (w.kind) {
    case "ipvs":
      return w.action === "add"
        ? `virtual server ${w.object} deleted by someone else`
        : `virtual server ${w.object} ${MISSING[w.action]}`;
    case "address":
      return w.action === "add"
        ? `address ${w.object} missing from kube-ipvs0`
        : `address ${w.object} added to kube-ipvs0 by someone else`;
    case "link":
      return `${w.object} deleted by someone else`;
    case "ipset":
      return w.action === "add"
        ? `set ${w.object} missing`
        : `set ${w.object} recreated (another type or options)`;
    case "rule":
      return w.action === "add" ? `jump ${w.object} missing` : `chain ${w.object} changed`;
    default:
      return `${w.kind} ${w.object} ${MISSING[w.action]}`;
  }
}

function groupSentence(list: readonly Write[]): string {
  const w = list[0]!;
  const n = list.length;
  if (w.kind === "realserver") {
    const one = n === 1
      ? `real server ${w.object.slice(w.parent!.length + 1)}`
      : `${n} real servers`;
    return `${w.parent}: ${one} ${MISSING[w.action]}`;
  }
  const one = n === 1 ? `entry ${w.object.slice(w.parent!.length + 1)}` : `${n} entries`;
  return `${w.parent}: ${one} ${MISSING[w.action]}`;
}
