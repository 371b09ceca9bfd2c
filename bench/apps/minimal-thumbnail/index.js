// The minimal thumbnail work as an Event Grid-source blob function, for the thumbnail benchmark: the host delivers
// the blob's bytes, the function resizes them with the app's own renderer, uploads the sizes and upserts one status
// row. No job runtime, no timeline, no dead letters: beside the real app in the same host, it separates what the
// host's trigger path costs from what the job runtime costs.
const path = require('node:path');

const { app } = require('@azure/functions');
const { TableClient } = require('@azure/data-tables');
const { BlobServiceClient } = require('@azure/storage-blob');

const { renderThumbnails } = require(path.resolve(__dirname, '../../../dist/shared/thumbnails/renderThumbnails'));

const WIDTHS = [128, 256, 512];
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
    ready ??= Promise.all([thumbnails.createIfNotExists(), status.createTable()]);
    await ready;
    const name = context.triggerMetadata.name;
    const rendered = await renderThumbnails(content, {
      widths: WIDTHS,
      format: 'webp',
      maxInputPixels: 50_000_000,
      timeoutSeconds: 30,
    });
    await Promise.all(
      rendered.map((thumbnail, index) =>
        thumbnails
          .getBlockBlobClient(`${WIDTHS[index]}/${name}`)
          .uploadData(thumbnail.data, { blobHTTPHeaders: { blobContentType: thumbnail.contentType } }),
      ),
    );
    await status.upsertEntity({ partitionKey: name, rowKey: 'status', status: 'succeeded' }, 'Replace');
    context.log(`minimal thumbnail for ${name}: succeeded`);
  },
});
