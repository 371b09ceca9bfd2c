import type { StorageClients } from '../storage/storageClients';

/** How long one dependency may take to answer before it counts as down. */
export const CHECK_TIMEOUT_MS = 3_000;

export interface DependencyCheck {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface QueueDepth {
  queue: string;
  depth: number;
  poisonQueue?: string;
  poison?: number;
}

export interface NightlyHealth {
  lastSucceededDate: string | null;
  expectedDate: string;
  overdue: boolean;
}

/** Open dead letters, counted up to the threshold (`atLeast` when the count stopped there). */
export interface DeadLetterHealth {
  open: number;
  atLeast: boolean;
  threshold: number;
}

export interface HealthReport {
  status: 'healthy' | 'unhealthy';
  checkedAt: string;
  storage: { queue: DependencyCheck; blob: DependencyCheck; table: DependencyCheck };
  queues: QueueDepth[];
  deadLetters?: DeadLetterHealth;
  nightly?: NightlyHealth;
  reasons: string[];
}

/**
 * The nightly batch is overdue when the newest date it completed is older than the date the last 02:00 run (plus an
 * hour's grace) should have covered. A deployment that never ran it is reported, not failed.
 */
export function nightlyHealth(lastSucceededDate: string | undefined, now: Date): NightlyHealth {
  const graceMs = 3 * 60 * 60 * 1000;
  const expectedDate = new Date(now.getTime() - graceMs - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
  return {
    lastSucceededDate: lastSucceededDate ?? null,
    expectedDate,
    overdue: lastSucceededDate !== undefined && lastSucceededDate < expectedDate,
  };
}

export interface HealthThresholds {
  queueDepthWarn: number;
  poisonWarn: number;
  deadLetterWarn: number;
}

async function timed(check: () => Promise<unknown>): Promise<DependencyCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    // A 404 (the table does not exist yet) still proves the service answers.
    if (status === 404) return { ok: true, latencyMs: Math.round(performance.now() - started) };
    const code = (error as { code?: string }).code;
    const message = (error as Error).message.split('\n')[0] ?? 'failed';
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: code ? `${code}: ${message}` : message,
    };
  } finally {
    clearTimeout(timer);
  }
}

async function depth(clients: StorageClients, queue: string): Promise<number> {
  try {
    const properties = await clients.queues.getQueueClient(queue).getProperties();
    return properties.approximateMessagesCount ?? 0;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 0;
    throw error;
  }
}

/**
 * The Health Endpoint Monitoring pattern: checks each storage service the jobs depend on, with its latency, and the
 * depth of each queue and its poison queue against thresholds. Unhealthy when a service does not answer, a queue
 * backs up, poison messages wait, or open dead letters reach their threshold. Poison depth alone says little: the app
 * drains its poison queues into dead letters at once, so the dead letters are what wait for an operator.
 */
export async function healthReport(
  clients: StorageClients,
  probeTable: string,
  queues: { queue: string; poisonQueue?: string }[],
  thresholds: HealthThresholds,
  lastNightly?: () => Promise<string | undefined>,
  countOpenDeadLetters?: (upTo: number) => Promise<number>,
): Promise<HealthReport> {
  const [queue, blob, table] = await Promise.all([
    timed(() => clients.queues.getProperties()),
    timed(() => clients.blobs.getProperties()),
    timed(() =>
      clients
        .table(probeTable)
        .listEntities({ queryOptions: { select: ['PartitionKey'] } })
        .byPage({ maxPageSize: 1 })
        .next(),
    ),
  ]);
  const reasons: string[] = [];
  for (const [name, check] of Object.entries({ queue, blob, table })) {
    if (!check.ok) reasons.push(`${name} storage is unreachable (${check.error ?? 'no answer'})`);
  }
  const depths: QueueDepth[] = [];
  if (queue.ok) {
    for (const entry of queues) {
      try {
        const row: QueueDepth = { queue: entry.queue, depth: await depth(clients, entry.queue) };
        if (entry.poisonQueue) {
          row.poisonQueue = entry.poisonQueue;
          row.poison = await depth(clients, entry.poisonQueue);
          if (row.poison >= thresholds.poisonWarn) {
            reasons.push(`${row.poison} poison message(s) wait in ${entry.poisonQueue}`);
          }
        }
        if (row.depth >= thresholds.queueDepthWarn) {
          reasons.push(`queue ${entry.queue} holds ${row.depth} messages (threshold ${thresholds.queueDepthWarn})`);
        }
        depths.push(row);
      } catch (error) {
        reasons.push(`queue ${entry.queue} could not be read (${(error as Error).message.split('\n')[0] ?? ''})`);
      }
    }
  }
  let nightly: NightlyHealth | undefined;
  if (lastNightly && table.ok) {
    try {
      nightly = nightlyHealth(await lastNightly(), new Date());
      if (nightly.overdue) {
        reasons.push(
          `the nightly batch is overdue: last completed ${nightly.lastSucceededDate ?? 'never'}, expected ${nightly.expectedDate}`,
        );
      }
    } catch (error) {
      reasons.push(`the nightly batch runs could not be read (${(error as Error).message.split('\n')[0] ?? ''})`);
    }
  }
  let deadLetters: DeadLetterHealth | undefined;
  if (countOpenDeadLetters && table.ok) {
    try {
      const threshold = thresholds.deadLetterWarn;
      const open = await countOpenDeadLetters(threshold);
      deadLetters = { open, atLeast: open >= threshold, threshold };
      if (open >= threshold) {
        reasons.push(`${open} or more dead letters are open (threshold ${threshold}): replay or discard them`);
      }
    } catch (error) {
      reasons.push(`the dead letters could not be read (${(error as Error).message.split('\n')[0] ?? ''})`);
    }
  }
  return {
    status: reasons.length === 0 ? 'healthy' : 'unhealthy',
    checkedAt: new Date().toISOString(),
    storage: { queue, blob, table },
    queues: depths,
    ...(deadLetters ? { deadLetters } : {}),
    ...(nightly ? { nightly } : {}),
    reasons,
  };
}
