import { app } from '@azure/functions';

import { BatchRunStore } from '../shared/batch/batchRunStore';
import { appConfig } from '../shared/config/appConfig';
import { DeadLetterStore } from '../shared/deadletters/deadLetterStore';
import { healthReport } from '../shared/health/healthReport';
import { watchedQueues } from '../shared/health/queueDepths';
import { json } from '../shared/http/problem';
import { resourceNames } from '../shared/storage/resourceNames';
import { storageClients, withTablesOf } from '../shared/storage/storageClients';

const config = appConfig();
const names = resourceNames(config.resourcePrefix);
const deadLetters = new DeadLetterStore(storageClients(config.storageConnection).table(names.tables.deadLetters));
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
      withTablesOf(storageClients(config.storageConnection), storageClients(config.jobsStorageConnection)),
      names.tables.jobs,
      watchedQueues(names),
      config.health,
      () => runs.lastSucceededDate(),
      (upTo) => deadLetters.countOpen(upTo),
    );
    return json(report.status === 'healthy' ? 200 : 503, report);
  },
});
