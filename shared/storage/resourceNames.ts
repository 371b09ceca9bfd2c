/**
 * Every table, queue and container the app uses, named once. A `RESOURCE_PREFIX` lets several deployments or test
 * runs share one storage account without seeing each other's data. Table names allow only letters and digits;
 * queue and container names allow dashes.
 */
export interface ResourceNames {
  tables: { jobs: string; deadLetters: string };
  queues: { thumbnailPoison: string };
  containers: { uploads: string; thumbnails: string };
  /** Every queue this app triggers on: the health check and dashboard report their depths and poison counts. */
  triggerQueues: string[];
}

/** The host's blob trigger poison queue; its name is fixed by the Functions host. */
export const BLOB_TRIGGER_POISON_QUEUE = 'webjobs-blobtrigger-poison';

export function resourceNames(prefix: string): ResourceNames {
  const dashed = (name: string) => (prefix ? `${prefix}-${name}` : name);
  const table = (name: string) => `${prefix}${name}`;
  return {
    tables: { jobs: table('jobs'), deadLetters: table('deadletters') },
    queues: { thumbnailPoison: BLOB_TRIGGER_POISON_QUEUE },
    containers: { uploads: dashed('uploads'), thumbnails: dashed('thumbnails') },
    triggerQueues: [],
  };
}
