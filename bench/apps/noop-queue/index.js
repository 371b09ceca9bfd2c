// A no-op queue function for the devhost benchmark. It records when each message started, in process, so the
// benchmark can compute enqueue-to-start latency without adding storage work to the measured path.
const { app } = require('@azure/functions');

app.storageQueue('noop', {
  queueName: '%BENCH_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: (message) => {
    const starts = (globalThis.__benchStarts ??= []);
    starts.push({
      at: Date.now(),
      sentAt: typeof message === 'object' && message !== null ? message.sentAt : undefined,
    });
  },
});
