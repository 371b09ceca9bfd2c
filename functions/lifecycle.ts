import { app } from '@azure/functions';

import { withSecurityHeaders } from '../shared/http/securityHeaders';
import { seedDemoCatalogue } from '../shared/orders/demoCatalogue';
import { orderServices } from '../shared/orderServices';
import { ensureUploadCors } from '../shared/storage/uploadCors';

/**
 * At start: create the tables, queues' targets and containers the jobs use (so uploads have somewhere to land before
 * the first invocation), and seed the demo catalogue when the inventory is empty.
 */
app.hook.appStart(async () => {
  const services = orderServices();
  await services.ready();
  if (services.app.config.orders.seedDemoCatalogue) await seedDemoCatalogue(services.inventory);
  // Browsers upload straight to storage with the SAS URL: the blob service must allow their origin.
  await ensureUploadCors(services.app.storage.blobs, services.app.config.uploads.allowedOrigins);
});

/** Every HTTP response of the app carries the security headers, whichever function produced it. */
app.hook.postInvocation((context) => {
  if (context.invocationContext.options.trigger.type === 'httpTrigger') {
    context.result = withSecurityHeaders(context.result);
  }
});
