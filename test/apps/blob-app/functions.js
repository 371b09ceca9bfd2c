// Blob-triggered functions for devhost's tests: each logs a marker line the test counts.
const { app, output } = require('@azure/functions');

const copy = output.storageBlob({ path: '%OUT_CONTAINER%/{name}-copy.{ext}', connection: 'AzureWebJobsStorage' });

app.storageBlob('onUpload', {
  path: '%IN_CONTAINER%/{name}.{ext}',
  connection: 'AzureWebJobsStorage',
  extraOutputs: [copy],
  handler: async (content, context) => {
    const m = context.triggerMetadata;
    context.log(
      `PROCESSED ${JSON.stringify({
        name: m.name,
        ext: m.ext,
        blobTrigger: m.blobTrigger,
        uri: m.uri,
        length: m.properties && m.properties.contentLength,
        contentType: m.properties && m.properties.contentType,
        isBuffer: Buffer.isBuffer(content),
        text: Buffer.isBuffer(content) ? content.toString('utf8') : null,
        pid: process.pid,
      })}`,
    );
    if (String(m.name).startsWith('fail')) throw new Error(`cannot process ${m.name}`);
    context.extraOutputs.set(copy, Buffer.concat([Buffer.from('copy:'), content]));
  },
});

app.storageBlob('onCopy', {
  path: '%OUT_CONTAINER%',
  connection: 'AzureWebJobsStorage',
  handler: async (content, context) => {
    context.log(`COPIED ${context.triggerMetadata.blobTrigger} ${content.toString('utf8')}`);
  },
});
