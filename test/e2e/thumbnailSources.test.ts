import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { thumbnailJobIdFor } from '../../shared/thumbnails/thumbnailJob';
import { waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import { testImage } from '../support/images';
import { storageClients, uniqueName } from '../support/storage';

describe('thumbnail trigger source', () => {
  it('polls with THUMBNAIL_BLOB_SOURCE=LogsAndContainerScan, so an upload made while no host ran is picked up', async () => {
    const prefix = uniqueName('t').slice(0, 12);
    const uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
    await uploads.createIfNotExists();
    await uploads.getBlockBlobClient('before.png').uploadData(await testImage(200, 100, 'png'));
    const etag = (await uploads.getBlobClient('before.png').getProperties()).etag ?? '';
    const { host } = await startApp({ prefix, env: { THUMBNAIL_BLOB_SOURCE: 'LogsAndContainerScan' } });
    try {
      const job = await waitForJob(host, thumbnailJobIdFor(uploads.containerName, 'before.png', etag), 'succeeded');
      assert.equal(job.status, 'succeeded');
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });
});
