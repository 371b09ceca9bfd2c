import { app } from '@azure/functions';

import { BatchRunStore } from '../shared/batch/batchRunStore';
import { appConfig } from '../shared/config/appConfig';
import { healthReport } from '../shared/health/healthReport';
import { json } from '../shared/http/problem';
import { BLOB_TRIGGER_POISON_QUEUE, resourceNames } from '../shared/storage/resourceNames';
import { storageClients } from '../shared/storage/storageClients';

const config = appConfig();
const names = resourceNames(config.resourcePrefix);
const runs = new BatchRunStore(
  storageClients(config.storageConnection).table(names.tables.batchRuns),
  config.nightly.leaseMs,
);

app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => {
    const report = await healthReport(
      storageClients(config.storageConnection),
      names.tables.jobs,
      [
        ...names.triggerQueues.map((queue) => ({ queue, poisonQueue: `${queue}-poison` })),
        { queue: BLOB_TRIGGER_POISON_QUEUE },
      ],
      config.health,
      () => runs.lastSucceededDate(),
    );
    return json(report.status === 'healthy' ? 200 : 503, report);
  },
});
