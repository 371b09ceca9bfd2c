/**
 * In-process "something was written" signals, the host's SharedQueueWatcher and IBlobWrittenWatcher: a listener
 * subscribed to a key wakes from its polling delay at once.
 */
export class Notifier {
  readonly #subscribers = new Map<string, Set<() => void>>();

  static key(connectionKey: string, name: string): string {
    return `${connectionKey}|${name}`;
  }

  subscribe(key: string, callback: () => void): () => void {
    let set = this.#subscribers.get(key);
    if (!set) {
      set = new Set();
      this.#subscribers.set(key, set);
    }
    set.add(callback);
    return () => set.delete(callback);
  }

  notify(key: string): void {
    for (const callback of this.#subscribers.get(key) ?? []) callback();
  }
}
