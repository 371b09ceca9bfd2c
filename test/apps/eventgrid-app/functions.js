// Event Grid–source blob functions for devhost's tests: each logs a marker line the test reads.
const { app } = require('@azure/functions');

app.storageBlob('onEvent', {
  path: '%IN_CONTAINER%/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: async (content, context) => {
    const m = context.triggerMetadata;
    context.log(
      `EVENT ${JSON.stringify({
        name: m.name,
        blobTrigger: m.blobTrigger,
        uri: m.uri,
        etag: m.properties && m.properties.eTag,
        length: m.properties && m.properties.contentLength,
        metadata: m.metadata,
        text: Buffer.isBuffer(content) ? content.toString('utf8') : null,
      })}`,
    );
    if (String(m.name).startsWith('fail')) throw new Error(`cannot process ${m.name}`);
  },
});
