import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';
import sharp from 'sharp';

import { thumbnailJobIdFor } from '../../shared/thumbnails/thumbnailJob';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { animatedGif, bmpImage, testImage } from '../support/images';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

const MASTER_KEY = 'test-master-key-integrity';
const admin = { 'x-functions-key': MASTER_KEY };

interface CreatedUpload {
  jobId: string;
  upload: { url: string; headers: Record<string, string> };
}

interface ThumbnailView {
  width: number;
  height: number;
  contentType: string;
  path: string;
  url: string;
  frames?: number;
}

function thumbnailsOf(job: PublicJob): ThumbnailView[] {
  return (job.result?.['thumbnails'] as ThumbnailView[] | undefined) ?? [];
}

describe('uploads: jobs cannot be taken over, thumbnails stay true to their upload', () => {
  let host: DevhostProcess;
  let prefix: string;
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;

  before(async () => {
    ({ host, prefix } = await startApp({ env: { DEVHOST_MASTER_KEY: MASTER_KEY } }));
    uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
    thumbnails = storageClients().blobs.getContainerClient(`${prefix}-thumbnails`);
    await waitFor('the uploads container', () => uploads.exists());
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  async function createUpload(fileName: string, contentType: string): Promise<CreatedUpload> {
    const created = await postJson<CreatedUpload>(host, '/api/uploads', { fileName, contentType });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body;
  }

  async function put(created: CreatedUpload, body: Buffer, extraHeaders: Record<string, string> = {}) {
    const response = await fetch(created.upload.url, {
      method: 'PUT',
      headers: { ...created.upload.headers, ...extraHeaders },
      body,
    });
    assert.equal(response.status, 201, await response.text());
  }

  async function jobForBlob(name: string): Promise<PublicJob> {
    const etag = (await uploads.getBlobClient(name).getProperties()).etag ?? '';
    return waitForJob(host, thumbnailJobIdFor(uploads.containerName, name, etag));
  }

  it("never lets an upload's metadata bind it to another job, nor a forged replay marker", async () => {
    const victim = await createUpload('victim.png', 'image/png');
    await put(victim, await testImage(300, 200, 'png'));
    const done = await waitForJob(host, victim.jobId);
    assert.equal(done.status, 'succeeded');

    // The upload SAS lets its holder set metadata: name the victim's job, as a replay would.
    const attacker = await createUpload('attack.png', 'image/png');
    await put(attacker, Buffer.from('not an image'), { 'x-ms-meta-jobid': victim.jobId });
    const attackerJob = await waitForJob(host, attacker.jobId);
    assert.equal(attackerJob.status, 'failed');
    assert.equal(attackerJob.error?.code, 'NOT_AN_IMAGE');

    // A real replay marker of another blob: a dead letter of a failed upload, replayed.
    await uploads.getBlockBlobClient('broken.png').uploadData(Buffer.from('still not an image'));
    const letter = await waitFor('the dead letter of broken.png', async () => {
      const page = await getJson<{ deadLetters: { id: string; jobId?: string; source: { blobName?: string } }[] }>(
        host,
        '/api/deadletters?limit=100',
        { headers: admin },
      );
      return page.body.deadLetters.find((d) => d.source.blobName === 'broken.png');
    });
    assert.equal((await postJson(host, `/api/deadletters/${letter.id}/replay`, {}, admin)).status, 202);
    const replayed = await waitFor('the replayed job to run again', async () => {
      const job = await getJson<PublicJob>(host, `/api/jobs/${letter.jobId ?? ''}`);
      return job.body.attempts >= 2 && job.body.status === 'failed' ? job.body : undefined;
    });
    // Copy that marker onto an upload of one's own.
    const forger = await createUpload('forged.png', 'image/png');
    await put(forger, await testImage(100, 100, 'png'), {
      'x-ms-meta-jobid': letter.jobId ?? '',
      'x-ms-meta-replayof': letter.id,
    });
    const forgerJob = await waitForJob(host, forger.jobId);
    assert.equal(forgerJob.status, 'succeeded', 'the forger gets its own job, nothing more');

    const victimAfter = await waitForJob(host, victim.jobId);
    assert.equal(victimAfter.status, 'succeeded');
    assert.equal(victimAfter.attempts, done.attempts, "the victim's job never ran again");
    assert.deepEqual(victimAfter.result, done.result);
    const replayedAfter = await waitForJob(host, letter.jobId ?? '');
    assert.equal(replayedAfter.attempts, replayed.attempts, 'the forged marker reopened nothing');
    assert.equal(replayedAfter.status, 'failed');
  });

  it('stores thumbnails under names whose extension matches their content, and links them through the app', async () => {
    const created = await createUpload('sunset.jpg', 'image/jpeg');
    await put(created, await testImage(400, 300, 'jpeg'));
    const job = await waitForJob(host, created.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const list = thumbnailsOf(job);
    assert.equal(list.length, 3);
    for (const thumbnail of list) {
      assert.equal(thumbnail.contentType, 'image/webp');
      assert.match(thumbnail.path, /\/sunset\.jpg\.webp$/);
      assert.match(thumbnail.url, /^\/api\/thumbnails\/\d+\/upl_[A-Za-z0-9_-]+\/sunset\.jpg\.webp\?v=[\w%-]+$/);
      const response = await fetch(host.url(thumbnail.url));
      assert.equal(response.status, 200, thumbnail.url);
      assert.equal(response.headers.get('content-type'), 'image/webp');
      assert.equal((await sharp(Buffer.from(await response.arrayBuffer())).metadata()).format, 'webp');
    }
  });

  it('removes the old thumbnails when a newer version of the name is not an image', async () => {
    await uploads.getBlockBlobClient('swap.png').uploadData(await testImage(300, 300, 'png'));
    assert.equal((await jobForBlob('swap.png')).status, 'succeeded');
    assert.equal(await thumbnails.getBlobClient('128/swap.png.webp').exists(), true);
    await uploads.getBlockBlobClient('swap.png').uploadData(Buffer.from('a text file now'));
    const failed = await jobForBlob('swap.png');
    assert.equal(failed.error?.code, 'NOT_AN_IMAGE');
    // Hidden from the moment version 2 is the upload: the route never serves version 1's thumbnail as current.
    assert.equal((await fetch(host.url('/api/thumbnails/128/swap.png.webp'))).status, 404);
    // Removed by the failure's follow-up, which runs just after the job is recorded `failed` (tens of ms here).
    for (const width of [128, 256, 512]) {
      await waitFor(`${width}/swap.png.webp removed`, async () => {
        return !(await thumbnails.getBlobClient(`${width}/swap.png.webp`).exists());
      });
    }
  });

  it('stops serving the thumbnails of a deleted upload, and removes them', async () => {
    await uploads.getBlockBlobClient('gone.png').uploadData(await testImage(300, 300, 'png'));
    const job = await jobForBlob('gone.png');
    assert.equal(job.status, 'succeeded');
    const [first] = thumbnailsOf(job);
    assert.ok(first);
    assert.equal((await fetch(host.url(first.url))).status, 200);
    // No trigger fires for a deletion: the route itself notices.
    await uploads.getBlobClient('gone.png').delete();
    const after = await fetch(host.url(first.url));
    assert.equal(after.status, 404);
    assert.match(await after.text(), /upload was deleted/);
    assert.equal(await thumbnails.getBlobClient(first.path.slice(first.path.indexOf('/') + 1)).exists(), false);
  });

  it('fails a BMP as an unsupported image format, not as "not an image"', async () => {
    await uploads.getBlockBlobClient('icon.bmp').uploadData(bmpImage());
    const job = await jobForBlob('icon.bmp');
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 'UNSUPPORTED_IMAGE_FORMAT');
    assert.match(job.error?.message ?? '', /BMP/);
  });

  it('keeps the animation of an animated GIF in its WebP thumbnails', async () => {
    await uploads.getBlockBlobClient('spinner.gif').uploadData(await animatedGif(200, 100, 3));
    const job = await jobForBlob('spinner.gif');
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const [first] = thumbnailsOf(job);
    assert.ok(first);
    assert.equal(first.frames, 3);
    assert.equal(first.width, 128);
    assert.equal(first.height, 64, 'the height of one frame');
    const stored = await thumbnails.getBlobClient('128/spinner.gif.webp').downloadToBuffer();
    const meta = await sharp(stored, { animated: true }).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.pages, 3);
  });
});
