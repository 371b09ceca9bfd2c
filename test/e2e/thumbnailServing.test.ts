import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';
import sharp from 'sharp';

import { thumbnailJobIdFor } from '../../shared/thumbnails/thumbnailJob';
import { waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import { BlobRequestProxy } from '../support/blobRequestProxy';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { storageClients, testConnectionString } from '../support/storage';
import { waitFor } from '../support/wait';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/*
 * What the thumbnail route reads from storage for each answer, seen by a proxy between the app and Azurite: a `304`
 * or a redirect is decided from the thumbnail's properties, and only a `200` downloads the image.
 */
describe('thumbnail route: storage reads per answer', () => {
  let proxy: BlobRequestProxy;
  let host: DevhostProcess;
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;

  before(async () => {
    proxy = await BlobRequestProxy.start(testConnectionString());
    let prefix: string;
    ({ host, prefix } = await startApp({ env: { AzureWebJobsStorage: proxy.connectionString } }));
    uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
    thumbnails = storageClients().blobs.getContainerClient(`${prefix}-thumbnails`);
    await waitFor('the uploads container', () => uploads.exists());
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
    await proxy.stop();
  });

  async function uploadAndWait(name: string, width: number, height: number): Promise<string> {
    const { etag } = await uploads.getBlockBlobClient(name).uploadData(await testImage(width, height, 'png'));
    const job = await waitForJob(host, thumbnailJobIdFor(uploads.containerName, name, etag ?? ''));
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const links = (job.result?.['thumbnails'] as { width: number; url: string }[] | undefined) ?? [];
    const url = links.find((link) => link.width === 128)?.url;
    assert.ok(url !== undefined && url.includes('?v='), `a versioned URL: ${String(url)}`);
    return url;
  }

  /**
   * Fetches `path` from the app and returns the response with the storage requests the app made for the thumbnail
   * blob (methods, in order). The route awaits all of them before it answers, and the proxy records each as it
   * arrives, so none can be missed.
   */
  async function fetchCounting(
    path: string,
    blobName: string,
    headers: Record<string, string> = {},
  ): Promise<{ response: Response; body: Buffer; reads: string[] }> {
    const from = proxy.seen.length;
    const response = await fetch(host.url(path), { headers, redirect: 'manual' });
    const body = Buffer.from(await response.arrayBuffer());
    const reads = proxy.seen
      .slice(from)
      .filter((request) => request.path === `${thumbnails.containerName}/${blobName}`)
      .map((request) => request.method);
    return { response, body, reads };
  }

  it('answers 304 from the properties alone, and downloads only for a 200 that sends the image', async () => {
    const versioned = await uploadAndWait('served.png', 300, 150);
    const plain = '/api/thumbnails/128/served.png.webp';
    const blob = thumbnails.getBlobClient('128/served.png.webp');
    const stored = { bytes: await blob.downloadToBuffer(), etag: (await blob.getProperties()).etag ?? '' };
    assert.match(stored.etag, /^"[^"]+"$/);

    // Without If-None-Match the answer is a 200 whatever the ETag: one download, no look first.
    const first = await fetchCounting(plain, '128/served.png.webp');
    assert.equal(first.response.status, 200);
    assert.equal(first.response.headers.get('etag'), stored.etag);
    assert.equal(first.response.headers.get('content-type'), 'image/webp');
    assert.equal(first.response.headers.get('cache-control'), 'no-cache');
    assert.equal(first.response.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(first.body, stored.bytes);
    assert.deepEqual(first.reads, ['GET']);

    const unchanged = await fetchCounting(plain, '128/served.png.webp', { 'if-none-match': stored.etag });
    assert.equal(unchanged.response.status, 304);
    assert.equal(unchanged.response.headers.get('etag'), stored.etag);
    assert.equal(unchanged.response.headers.get('cache-control'), 'no-cache');
    assert.equal(unchanged.body.length, 0);
    assert.deepEqual(unchanged.reads, ['HEAD'], 'a 304 reads the properties, never the image');

    const revalidated = await fetchCounting(versioned, '128/served.png.webp', { 'if-none-match': stored.etag });
    assert.equal(revalidated.response.status, 304);
    assert.equal(revalidated.response.headers.get('cache-control'), IMMUTABLE);
    assert.deepEqual(revalidated.reads, ['HEAD'], "the versioned URL's revalidation too");

    // A validator that does not match: the look, then the image, with the headers of the very blob downloaded.
    const changed = await fetchCounting(versioned, '128/served.png.webp', { 'if-none-match': '"another"' });
    assert.equal(changed.response.status, 200);
    assert.equal(changed.response.headers.get('etag'), stored.etag);
    assert.equal(changed.response.headers.get('content-type'), 'image/webp');
    assert.equal(changed.response.headers.get('cache-control'), IMMUTABLE);
    assert.deepEqual(changed.body, stored.bytes);
    assert.deepEqual(changed.reads, ['HEAD', 'GET']);
  });

  it("redirects an old version's revalidation without downloading, and sends the new version's image", async () => {
    const url1 = await uploadAndWait('again.png', 200, 200);
    const blob = thumbnails.getBlobClient('128/again.png.webp');
    const etag1 = (await blob.getProperties()).etag ?? '';
    const url2 = await uploadAndWait('again.png', 300, 150);
    assert.notEqual(url2, url1);

    const old = await fetchCounting(url1, '128/again.png.webp', { 'if-none-match': etag1 });
    assert.equal(old.response.status, 307);
    assert.equal(old.response.headers.get('location'), url2);
    assert.equal(old.response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(old.reads, ['HEAD']);

    const current = await fetchCounting('/api/thumbnails/128/again.png.webp', '128/again.png.webp', {
      'if-none-match': etag1,
    });
    assert.equal(current.response.status, 200);
    const etag2 = (await blob.getProperties()).etag;
    assert.notEqual(etag2, etag1);
    assert.equal(current.response.headers.get('etag'), etag2);
    assert.equal((await sharp(current.body).metadata()).height, 64, 'version 2');
    assert.deepEqual(current.reads, ['HEAD', 'GET']);
  });
});
