/** What a group commit answers for each request in it. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Waiting<R, T> {
  request: R;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Group commit per key: while a commit for a key is in flight, further requests for that key wait, and the next
 * commit takes all of them (up to `maxGroup`) at once. One hot key (a SKU everyone orders) then costs one
 * read-and-conditional-write per group instead of per request, and this process's requests never race each other
 * for it. A single request on its own is committed at once, as before.
 */
export class GroupCommitter<R, T> {
  readonly #waiting = new Map<string, Waiting<R, T>[]>();
  readonly #busy = new Set<string>();

  constructor(
    private readonly commit: (key: string, requests: R[]) => Promise<Outcome<T>[]>,
    private readonly maxGroup: number,
  ) {}

  submit(key: string, request: R): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queue = this.#waiting.get(key) ?? [];
      queue.push({ request, resolve, reject });
      this.#waiting.set(key, queue);
      if (!this.#busy.has(key)) void this.#drain(key);
    });
  }

  async #drain(key: string): Promise<void> {
    this.#busy.add(key);
    try {
      for (;;) {
        const queue = this.#waiting.get(key) ?? [];
        const group = queue.splice(0, this.maxGroup);
        if (queue.length === 0) this.#waiting.delete(key);
        if (group.length === 0) return;
        let outcomes: Outcome<T>[];
        try {
          outcomes = await this.commit(
            key,
            group.map((waiting) => waiting.request),
          );
        } catch (error) {
          outcomes = group.map(() => ({ ok: false, error }));
        }
        group.forEach((waiting, i) => {
          const outcome = outcomes[i] ?? { ok: false, error: new Error('no outcome for a grouped request') };
          if (outcome.ok) waiting.resolve(outcome.value);
          else waiting.reject(outcome.error);
        });
      }
    } finally {
      this.#busy.delete(key);
    }
  }
}
