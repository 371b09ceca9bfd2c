import { app } from '@azure/functions';

import { appConfig } from '../shared/config/appConfig';
import { healthReport } from '../shared/health/healthReport';
import { json } from '../shared/http/problem';
import { resourceNames } from '../shared/storage/resourceNames';
import { storageClients } from '../shared/storage/storageClients';

const config = appConfig();
const names = resourceNames(config.resourcePrefix);

app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => {
    const report = await healthReport(
      storageClients(config.storageConnectionString),
      names.tables.jobs,
      names.triggerQueues.map((queue) => ({ queue, poisonQueue: `${queue}-poison` })),
      config.health,
    );
    return json(report.status === 'healthy' ? 200 : 503, report);
  },
});
