import { app } from '@azure/functions';

import { withSecurityHeaders } from '../shared/http/securityHeaders';
import { seedDemoCatalogue } from '../shared/orders/demoCatalogue';
import { orderServices } from '../shared/orderServices';

/**
 * At start: create the tables, queues' targets and containers the jobs use (so uploads have somewhere to land before
 * the first invocation), and seed the demo catalogue when the inventory is empty.
 */
app.hook.appStart(async () => {
  const services = orderServices();
  await services.ready();
  if (services.app.config.orders.seedDemoCatalogue) await seedDemoCatalogue(services.inventory);
  const origins = services.app.config.uploads.allowedOrigins;
  if (origins.length > 0) {
    // Browsers upload straight to storage with the SAS URL: the blob service must allow their origin.
    const blobs = services.app.storage.blobs;
    const properties = await blobs.getProperties();
    const rules = properties.cors ?? [];
    const allowedOrigins = origins.join(',');
    // Add our rule unless one like it is there; keep everyone else's (Azure allows five rules per service).
    if (!rules.some((rule) => rule.allowedOrigins === allowedOrigins && rule.allowedMethods.includes('PUT'))) {
      await blobs.setProperties({
        cors: [
          ...rules.slice(-4),
          {
            allowedOrigins,
            allowedMethods: 'PUT,OPTIONS',
            allowedHeaders: 'content-type,x-ms-blob-type,x-ms-version,x-ms-client-request-id',
            exposedHeaders: 'etag',
            maxAgeInSeconds: 600,
          },
        ],
      });
    }
  }
});

/** Every HTTP response of the app carries the security headers, whichever function produced it. */
app.hook.postInvocation((context) => {
  if (context.invocationContext.options.trigger.type === 'httpTrigger') {
    context.result = withSecurityHeaders(context.result);
  }
});
