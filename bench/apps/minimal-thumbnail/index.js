// The minimal thumbnail work as an Event Grid-source blob function, for the thumbnail benchmark: the host delivers
// the blob's bytes, and the function does with them exactly what the hand-written pipeline does. No job runtime, no
// timeline, no dead letters: beside the real app in the same host, it separates what the host's trigger path costs
// from what the job runtime costs.
const path = require('node:path');

const { app } = require('@azure/functions');
const { TableClient } = require('@azure/data-tables');
const { BlobServiceClient } = require('@azure/storage-blob');

const { minimalThumbnailWork } = require(path.resolve(__dirname, '../../../dist/bench/minimalThumbnailWork'));

const connection = process.env.AzureWebJobsStorage;
const thumbnails = BlobServiceClient.fromConnectionString(connection).getContainerClient(
  `${process.env.BENCH_PREFIX}-thumbnails`,
);
const status = TableClient.fromConnectionString(connection, `${process.env.BENCH_PREFIX}status`, {
  allowInsecureConnection: true,
});
let ready;

app.storageBlob('minimalThumbnail', {
  path: '%BENCH_PREFIX%-uploads/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: async (content, context) => {
    ready ??= Promise.all([thumbnails.createIfNotExists(), status.createTable()]).catch((error) => {
      ready = undefined; // the next invocation tries again
      throw error;
    });
    await ready;
    const name = context.triggerMetadata.name;
    await minimalThumbnailWork(name, content, thumbnails, status);
    context.log(`minimal thumbnail for ${name}: succeeded`);
  },
});
