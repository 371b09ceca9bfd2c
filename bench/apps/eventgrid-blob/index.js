// An Event Grid-source blob function for the detection benchmark: it logs when it starts, by the same clock the
// benchmark reads before each upload.
const { app } = require('@azure/functions');

app.storageBlob('onBenchBlob', {
  path: '%BENCH_CONTAINER%/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: (_content, context) => {
    context.log(`STARTED ${context.triggerMetadata.name} ${Date.now()}`);
  },
});
