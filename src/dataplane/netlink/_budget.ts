/**
 * How many requests the next send of a batch may carry, so that the kernel's work inside one send
 * stays within a time budget.
 *
 * The kernel handles a send's requests inside the system call. On a kernel that does not preempt
 * (User-Mode Linux, PREEMPT_NONE servers) nothing else runs on that CPU meanwhile: not the probe
 * thread answering `/healthz`, not the kubelet. Requests are cheap as a rule (an IPVS real server:
 * ~25 us in the test VM) but not all: adding kube-ipvs0's 50,000th address costs ~0.7 ms there (the
 * kernel walks the device's address list), so 512 addresses in one send held the CPU ~360 ms.
 * The limit shrinks in proportion when a send took longer than the budget and doubles back
 * (up to the client's maximum) when a full send took under half of it.
 *
 * @module
 */

/** The adaptive request limit of one client's sends. */
export class SendBudget {
  readonly max: number;
  readonly budgetMs: number;
  #limit: number;

  constructor(max: number, budgetMs: number) {
    this.max = Math.max(1, max);
    this.budgetMs = budgetMs;
    this.#limit = this.max;
  }

  /** Most requests the next send may carry. */
  get limit(): number {
    return this.#limit;
  }

  /** Records that a send of `count` requests took `ms` (the kernel's work included). */
  record(count: number, ms: number): void {
    if (!(this.budgetMs > 0) || count < 1) return;
    if (ms > this.budgetMs) {
      this.#limit = Math.max(1, Math.min(this.#limit, Math.floor((count * this.budgetMs) / ms)));
    } else if (ms < this.budgetMs / 2 && count >= this.#limit) {
      this.#limit = Math.min(this.max, this.#limit * 2);
    }
  }
}
