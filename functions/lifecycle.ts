import { app } from '@azure/functions';

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
});
