/**
 * Faults the test API server shows on demand, matched to requests by verb and resource.
 *
 * @module
 */

import type { Verb } from "./_http.ts";

/** Which requests a fault applies to. */
export interface FaultMatch {
  verb?: Verb;
  /** Plural resource name. */
  resource?: string;
}

/** A misbehaviour the server shows to the next matching request(s). */
export type Fault =
  & {
    match?: FaultMatch;
    /** How many matching requests misbehave (default 1). */
    times?: number;
    /** Let this many matching requests through first (default 0). */
    skip?: number;
  }
  & (
    | {
      kind: "status";
      code: number;
      reason?: string;
      message?: string;
      retryAfterSeconds?: number;
    }
    /** Destroy the connection: before answering a list; after `afterEvents` events of a watch. */
    | { kind: "drop"; afterEvents?: number }
    /** Accept a watch and then say nothing, ever; never answer a list. */
    | { kind: "stall" }
    /** Accept a watch and end it at once, without an event. */
    | { kind: "end" }
  );

/** Queued faults, each good for a number of matching requests. */
export class FaultQueue {
  #queue: (Fault & { left: number; skipLeft: number })[] = [];

  /** Queues a fault. */
  add(fault: Fault): void {
    this.#queue.push({ ...fault, left: fault.times ?? 1, skipLeft: fault.skip ?? 0 });
  }

  /** The fault for this request, if one matches; counts it. */
  take(verb: Verb, resource: string): Fault | undefined {
    const i = this.#queue.findIndex((f) =>
      (!f.match?.verb || f.match.verb === verb) &&
      (!f.match?.resource || f.match.resource === resource)
    );
    if (i < 0) return undefined;
    const f = this.#queue[i]!;
    if (f.skipLeft > 0) {
      f.skipLeft--;
      return undefined;
    }
    if (--f.left <= 0) this.#queue.splice(i, 1);
    return f;
  }
}
