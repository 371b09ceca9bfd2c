import type { RetryOptions } from '../config/hostOptions';
import type { RpcRetryOptions } from './rpcTypes';

/** A retry policy in milliseconds, from a function's `retry` option or host.json `retry`. */
export interface RetryPolicy {
  strategy: 'fixedDelay' | 'exponentialBackoff';
  /** -1 retries forever. */
  maxRetryCount: number;
  delayIntervalMs: number;
  minimumIntervalMs: number;
  maximumIntervalMs: number;
}

const durationMs = (d: { seconds?: number | null; nanos?: number | null } | null | undefined): number =>
  (Number(d?.seconds ?? 0) || 0) * 1000 + Math.round((d?.nanos ?? 0) / 1e6);

export function retryPolicyFrom(
  fnOptions: RpcRetryOptions | undefined,
  hostOptions: RetryOptions | undefined,
): RetryPolicy | undefined {
  if (fnOptions && fnOptions.retryStrategy) {
    return {
      strategy: fnOptions.retryStrategy,
      maxRetryCount: fnOptions.maxRetryCount ?? 0,
      delayIntervalMs: durationMs(fnOptions.delayInterval),
      minimumIntervalMs: durationMs(fnOptions.minimumInterval),
      maximumIntervalMs: durationMs(fnOptions.maximumInterval),
    };
  }
  return hostOptions;
}

/**
 * The host's randomized exponential backoff (`RandomizedExponentialBackoffStrategy`): the first delay is `min`,
 * then `min + U(0.8, 1.2) * 2^(n-1) * delta`, capped at `max`. Also drives queue polling.
 */
export class RandomizedExponentialBackoff {
  #current: number;
  #exponent = 0;
  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly deltaMs: number = minMs,
    private readonly random: () => number = Math.random,
  ) {
    this.#current = minMs;
  }

  next(succeeded: boolean): number {
    if (succeeded) {
      this.#current = this.minMs;
      this.#exponent = 1;
    } else if (this.#current !== this.maxMs) {
      const factor = 0.8 + 0.4 * this.random();
      const candidate = this.minMs + (this.#exponent > 0 ? factor * 2 ** (this.#exponent - 1) * this.deltaMs : 0);
      if (candidate < this.maxMs) {
        this.#current = candidate;
        this.#exponent++;
      } else {
        this.#current = this.maxMs;
      }
    }
    return this.#current;
  }
}

/** The delay before retry number `retryCount` (1-based) under a policy. */
export function createRetryDelays(policy: RetryPolicy): () => number {
  if (policy.strategy === 'fixedDelay') return () => policy.delayIntervalMs;
  const backoff = new RandomizedExponentialBackoff(policy.minimumIntervalMs, policy.maximumIntervalMs);
  return () => backoff.next(false);
}
