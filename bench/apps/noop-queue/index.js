// A no-op queue function for the devhost benchmark. Messages that carry `sentAt` log their enqueue-to-start latency.
const { app } = require('@azure/functions');

app.storageQueue('noop', {
  queueName: '%BENCH_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: (message, context) => {
    if (message && typeof message === 'object' && typeof message.sentAt === 'number') {
      context.log(`LATENCY ${Date.now() - message.sentAt}`);
    }
  },
});
