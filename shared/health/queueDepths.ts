import type { AppServices } from '../appServices';
import { BLOB_TRIGGER_POISON_QUEUE, type ResourceNames } from '../storage/resourceNames';
import { storageClients, withTablesOf } from '../storage/storageClients';
import { healthReport, type QueueDepth } from './healthReport';

/** The queues health and the dashboard watch: every trigger queue with its poison twin, and the blob poison queue. */
export function watchedQueues(names: ResourceNames): { queue: string; poisonQueue?: string }[] {
  return [
    ...names.triggerQueues.map((queue) => ({ queue, poisonQueue: `${queue}-poison` })),
    { queue: BLOB_TRIGGER_POISON_QUEUE },
  ];
}

/** The depth of each watched queue and its poison queue, as the health report measures them. */
export async function queueDepths(services: AppServices): Promise<QueueDepth[]> {
  const report = await healthReport(
    withTablesOf(services.storage, storageClients(services.config.jobsStorageConnection)),
    services.names.tables.jobs,
    watchedQueues(services.names),
    services.config.health,
  );
  return report.queues;
}
