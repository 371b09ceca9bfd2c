import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import { runThumbnailJob, type ThumbnailJobServices } from '../../shared/thumbnails/thumbnailJob';
import { currentUploadEtag, readUploadVersion } from '../../shared/thumbnails/uploadVersions';
import { testImage } from '../support/images';
import { storageClients, uniqueName } from '../support/storage';

describe('thumbnail job: a version that goes away before it is read (Azurite)', () => {
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;
  let services: ThumbnailJobServices;
  let jobs: JobStore;

  before(async () => {
    const clients = storageClients();
    uploads = clients.blobs.getContainerClient(uniqueName('up-'));
    thumbnails = clients.blobs.getContainerClient(uniqueName('th-'));
    await Promise.all([uploads.create(), thumbnails.create()]);
    jobs = new JobStore(clients.table(uniqueName('jobs').replace(/-/g, '')));
    const deadLetters = new DeadLetterStore(clients.table(uniqueName('dl').replace(/-/g, '')));
    await Promise.all([jobs.ensureTable(), deadLetters.ensureTable()]);
    services = {
      runtime: new JobRuntime({ statuses: jobs, deadLetters }),
      deadLetters,
      uploads,
      thumbnails,
      currentUploadEtag: (name) => currentUploadEtag(uploads, name),
      widths: [128, 256],
      format: 'webp',
      maxPixels: 1_000_000,
      maxBytes: 1024 * 1024,
    };
  });

  async function uploaded(name: string) {
    const bytes = await testImage(200, 200, 'png');
    const response = await uploads.getBlockBlobClient(name).uploadData(bytes);
    return {
      container: uploads.containerName,
      name,
      etag: response.etag ?? '',
      contentLength: bytes.length,
      metadata: {},
    };
  }

  it('is cancelled UPLOAD_DELETED, and the thumbnails of its name go', async () => {
    const blob = await uploaded('deleted.png');
    // Thumbnails of an earlier version of the name.
    for (const width of [128, 256]) {
      await thumbnails.getBlockBlobClient(`${width}/deleted.png.webp`).uploadData(Buffer.from('old'), {
        metadata: { sourceetag: 'older' },
      });
    }
    await uploads.getBlobClient('deleted.png').delete();
    let reads = 0;
    const { outcome, job } = await runThumbnailJob(services, blob, async () => {
      reads++;
      return readUploadVersion(uploads, blob.name, blob.etag);
    });
    assert.equal(reads, 1);
    assert.equal(outcome, 'upload-deleted');
    assert.equal(job.status, 'cancelled');
    assert.equal(job.error?.code, 'UPLOAD_DELETED');
    for (const width of [128, 256]) {
      assert.equal(await thumbnails.getBlobClient(`${width}/deleted.png.webp`).exists(), false, `${width}`);
    }
  });

  it('is cancelled UPLOAD_SUPERSEDED when a newer version replaced it, leaving the thumbnails to that version', async () => {
    const blob = await uploaded('replaced.png');
    await thumbnails.getBlockBlobClient('128/replaced.png.webp').uploadData(Buffer.from('newer'));
    await uploaded('replaced.png');
    const { outcome, job } = await runThumbnailJob(services, blob, () =>
      readUploadVersion(uploads, blob.name, blob.etag),
    );
    assert.equal(outcome, 'superseded');
    assert.equal(job.error?.code, 'UPLOAD_SUPERSEDED');
    assert.equal(await thumbnails.getBlobClient('128/replaced.png.webp').exists(), true);
  });

  it('never reads a version over the size limit', async () => {
    const blob = { ...(await uploaded('big.png')), contentLength: 2 * 1024 * 1024 };
    const { outcome, job } = await runThumbnailJob(services, blob, () => {
      throw new Error('read an upload over the limit');
    });
    assert.equal(outcome, 'failed');
    assert.equal(job.error?.code, 'BLOB_TOO_LARGE');
  });
});
