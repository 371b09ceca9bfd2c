import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import { readThumbnail } from '../../shared/thumbnails/serveThumbnail';
import { bareEtag, SOURCE_ETAG_METADATA, SOURCE_NAME_METADATA } from '../../shared/thumbnails/staleThumbnails';
import { BlobRequestProxy } from '../support/blobRequestProxy';
import { storageClients, testConnectionString, uniqueName } from '../support/storage';

/*
 * The thumbnail route decides a request with If-None-Match from the thumbnail's properties, then downloads. A proxy
 * between the reader and Azurite rewrites the thumbnail just before that download reaches storage: the race made to
 * happen every time, on real storage.
 */
describe('thumbnail reads: a thumbnail replaced between the look and the download (Azurite)', () => {
  let proxy: BlobRequestProxy;
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;
  let viaProxy: { uploads: ContainerClient; thumbnails: ContainerClient };

  before(async () => {
    const clients = storageClients();
    uploads = clients.blobs.getContainerClient(uniqueName('up-'));
    thumbnails = clients.blobs.getContainerClient(uniqueName('th-'));
    await Promise.all([uploads.create(), thumbnails.create()]);
    proxy = await BlobRequestProxy.start(testConnectionString());
    const blobs = BlobServiceClient.fromConnectionString(proxy.connectionString);
    viaProxy = {
      uploads: blobs.getContainerClient(uploads.containerName),
      thumbnails: blobs.getContainerClient(thumbnails.containerName),
    };
  });
  after(() => proxy.stop());

  /** Uploads `name` and writes its 128 px thumbnail (`bytes`) as made from that version; returns the version. */
  async function version(name: string, bytes: string): Promise<string> {
    const upload = await uploads.getBlockBlobClient(name).upload('image', 5);
    const made = bareEtag(upload.etag ?? '');
    await writeThumbnail(name, bytes, made);
    return made;
  }

  async function writeThumbnail(name: string, bytes: string, madeFrom: string): Promise<string> {
    const written = await thumbnails.getBlockBlobClient(`128/${name}.webp`).upload(bytes, bytes.length, {
      blobHTTPHeaders: { blobContentType: 'image/webp' },
      metadata: { [SOURCE_NAME_METADATA]: encodeURIComponent(name), [SOURCE_ETAG_METADATA]: madeFrom },
    });
    return written.etag ?? '';
  }

  /** Runs `change` once, when the first download of the thumbnail of `name` reaches the proxy, before storage sees it. */
  function beforeFirstDownload(name: string, change: () => Promise<unknown>): void {
    let done = false;
    proxy.beforeForward = async (request) => {
      if (done || request.method !== 'GET' || request.path !== `${thumbnails.containerName}/128/${name}.webp`) return;
      done = true;
      await change();
    };
  }

  function reads(name: string): string[] {
    return proxy.methodsFor(`${thumbnails.containerName}/128/${name}.webp`);
  }

  it('sends the rewritten image with its own ETag, never the ETag of the version it looked at', async () => {
    const made = await version('rewritten.png', 'first bytes');
    let rewritten = '';
    beforeFirstDownload('rewritten.png', async () => {
      // The same upload version's thumbnail written again (a retried attempt of its job).
      rewritten = await writeThumbnail('rewritten.png', 'second bytes', made);
    });
    const read = await readThumbnail(viaProxy, '128', 'rewritten.png.webp', { version: null, ifNoneMatch: '"old"' });
    assert.equal(read.kind, 'image');
    assert.ok(read.kind === 'image');
    assert.equal(read.body.toString(), 'second bytes');
    assert.equal(read.reply.etag, rewritten, 'the ETag of the bytes sent');
    assert.equal(read.contentType, 'image/webp');
    assert.deepEqual(reads('rewritten.png'), ['HEAD', 'GET', 'GET'], 'the look, the refused download, one more');
  });

  it("redirects to the new version when a newer upload's thumbnail replaced the one it looked at", async () => {
    const v1 = await version('replaced.png', 'version 1');
    let v2 = '';
    beforeFirstDownload('replaced.png', async () => {
      v2 = await version('replaced.png', 'version 2');
    });
    // A URL of version 1, which the look found current: its bytes may be cached for good, so never version 2's.
    const read = await readThumbnail(viaProxy, '128', 'replaced.png.webp', { version: v1, ifNoneMatch: '"old"' });
    assert.notEqual(v2, '');
    assert.deepEqual(read, { kind: 'redirect', reply: { kind: 'redirect', version: v2, cacheControl: 'no-store' } });
  });

  it('answers missing when the thumbnail was deleted between the look and the download', async () => {
    await version('deleted.png', 'bytes');
    beforeFirstDownload('deleted.png', () => thumbnails.getBlobClient('128/deleted.png.webp').delete());
    const read = await readThumbnail(viaProxy, '128', 'deleted.png.webp', { version: null, ifNoneMatch: '"old"' });
    assert.deepEqual(read, { kind: 'missing' });
  });
});
