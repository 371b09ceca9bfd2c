import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import sharp from 'sharp';

import { storageRedelivery } from '../../shared/deadletters/deadLetterRedelivery';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import { readThumbnail } from '../../shared/thumbnails/serveThumbnail';
import { bareEtag, SOURCE_ETAG_METADATA } from '../../shared/thumbnails/staleThumbnails';
import {
  type BlobContent,
  runThumbnailJob,
  THUMBNAIL_JOB_TYPE,
  thumbnailJobIdFor,
  thumbnailJobOfPoisonedBlob,
  type ThumbnailJobServices,
  UPLOAD_JOB_ID_PREFIX,
  type UploadedBlob,
} from '../../shared/thumbnails/thumbnailJob';
import { currentUploadEtag, readUploadVersion } from '../../shared/thumbnails/uploadVersions';
import { testImage } from '../support/images';
import { storageClients, testConnectionString, uniqueName } from '../support/storage';
import { latch } from '../support/wait';

/** A request for the current image, with no copy of it yet: always answered with the image. */
const NO_COPY_YET = { version: null, ifNoneMatch: null };

describe('thumbnail job: a version that goes away (Azurite)', () => {
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;
  let services: ThumbnailJobServices;
  let jobs: JobStore;
  let deadLetters: DeadLetterStore;
  let clients: ReturnType<typeof storageClients>;

  before(async () => {
    // A job's result links to the app's thumbnail route, whose base URL comes from the app's settings.
    process.env['AzureWebJobsStorage'] ??= testConnectionString();
    clients = storageClients();
    uploads = clients.blobs.getContainerClient(uniqueName('up-'));
    thumbnails = clients.blobs.getContainerClient(uniqueName('th-'));
    await Promise.all([uploads.create(), thumbnails.create()]);
    jobs = new JobStore(clients.table(uniqueName('jobs').replace(/-/g, '')));
    deadLetters = new DeadLetterStore(clients.table(uniqueName('dl').replace(/-/g, '')));
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
      readJobFirst: false,
    };
  });

  async function uploaded(name: string, width = 200, height = 200): Promise<UploadedBlob> {
    const bytes = await testImage(width, height, 'png');
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

  /** The source ETag and the pixel size of the thumbnail at `path`, as stored. */
  async function stored(path: string): Promise<{ source: string | undefined; width?: number; height?: number }> {
    const blob = thumbnails.getBlobClient(path);
    const properties = await blob.getProperties();
    const { width, height } = await sharp(await blob.downloadToBuffer()).metadata();
    return { source: properties.metadata?.[SOURCE_ETAG_METADATA], width, height };
  }

  it('ends superseded, leaving the newer version its thumbnails, when a newer version finished while it rendered', async () => {
    // Version 1 (200×200) is read; version 2 (300×150) is uploaded and its job finishes; then version 1's job goes on.
    const v1 = await uploaded('race.png', 200, 200);
    const read = latch();
    const gate = latch();
    const slow = runThumbnailJob(services, v1, async (): Promise<BlobContent> => {
      const content = await readUploadVersion(uploads, v1.name, v1.etag);
      read.open();
      await gate.opened;
      return content;
    });
    await read.opened;
    const v2 = await uploaded('race.png', 300, 150);
    const newer = await runThumbnailJob(services, v2);
    assert.equal(newer.outcome, 'succeeded', JSON.stringify(newer.job.error));
    gate.open();
    const older = await slow;
    assert.equal(older.outcome, 'superseded');
    assert.equal(older.job.status, 'cancelled');
    assert.equal(older.job.error?.code, 'UPLOAD_SUPERSEDED');
    assert.deepEqual(await stored('128/race.png.webp'), { source: bareEtag(v2.etag), width: 128, height: 64 });
    assert.deepEqual(await stored('256/race.png.webp'), { source: bareEtag(v2.etag), width: 256, height: 128 });
    const served = await readThumbnail({ thumbnails, uploads }, '128', 'race.png.webp', NO_COPY_YET);
    assert.equal(served.kind, 'image');
    assert.equal(served.kind === 'image' && (await sharp(served.body).metadata()).height, 64, "version 2's picture");
  });

  it("replaces an older version's thumbnails when the newer one succeeds", async () => {
    const v1 = await uploaded('replace.png', 200, 200);
    assert.equal((await runThumbnailJob(services, v1)).outcome, 'succeeded');
    assert.equal((await stored('128/replace.png.webp')).source, bareEtag(v1.etag));
    const v2 = await uploaded('replace.png', 300, 150);
    const newer = await runThumbnailJob(services, v2);
    assert.equal(newer.outcome, 'succeeded', JSON.stringify(newer.job.error));
    assert.deepEqual(await stored('128/replace.png.webp'), { source: bareEtag(v2.etag), width: 128, height: 64 });
    assert.deepEqual(await stored('256/replace.png.webp'), { source: bareEtag(v2.etag), width: 256, height: 128 });
  });

  it('runs a version again only where the source never hands every blob over again (Event Grid), and keeps its thumbnails', async () => {
    const blob = await uploaded('twice.png', 300, 150);
    assert.equal((await runThumbnailJob(services, blob)).outcome, 'succeeded');
    const etags = async () =>
      Promise.all(
        ['128', '256'].map(async (w) => (await thumbnails.getBlobClient(`${w}/twice.png.webp`).getProperties()).etag),
      );
    const before = await etags();
    let reads = 0;
    const counted = async (): Promise<BlobContent> => {
      reads++;
      return { kind: 'read', bytes: await uploads.getBlobClient('twice.png').downloadToBuffer() };
    };
    // Event Grid: not read first; rendered again, the thumbnails (same version, same bytes) left as they are.
    const again = await runThumbnailJob(services, blob, counted);
    assert.equal(again.outcome, 'already-done');
    assert.equal(again.job.attempts, 1);
    assert.equal(reads, 1);
    assert.deepEqual(await etags(), before);
    // The polling source: its lost receipts hand every blob over again, so the job is read first and nothing runs.
    const polled = await runThumbnailJob({ ...services, readJobFirst: true }, blob, counted);
    assert.equal(polled.outcome, 'already-done');
    assert.equal(reads, 1, 'not read, not rendered');
    assert.deepEqual(await etags(), before);
  });

  it('rewrites a thumbnail of the same version and bytes that a run again would store otherwise', async () => {
    const blob = await uploaded('restamped.png', 300, 150);
    assert.equal((await runThumbnailJob(services, blob)).outcome, 'succeeded');
    const small = thumbnails.getBlobClient('128/restamped.png.webp');
    const large = thumbnails.getBlobClient('256/restamped.png.webp');
    const { metadata, cacheControl, contentType, contentMD5 } = await small.getProperties();
    // As an earlier deployment left it: another Cache-Control, and a job id of its own (bytes and MD5 unchanged).
    await small.setHTTPHeaders({
      blobCacheControl: 'public, max-age=31536000',
      blobContentType: contentType,
      blobContentMD5: contentMD5,
    });
    await small.setMetadata({ ...metadata, jobid: 'job_from_before' });
    const smallBefore = (await small.getProperties()).etag;
    const largeBefore = (await large.getProperties()).etag;
    assert.equal((await runThumbnailJob(services, blob)).outcome, 'already-done');
    const rewritten = await small.getProperties();
    assert.notEqual(rewritten.etag, smallBefore);
    assert.equal(rewritten.cacheControl, cacheControl);
    assert.deepEqual(rewritten.metadata, metadata);
    assert.equal((await large.getProperties()).etag, largeBefore, 'the size that is as it would be written stays');
  });

  it('fails the upload job of a version poisoned before an attempt bound it, and makes no job of its own', async () => {
    // POST /api/uploads made the job, waiting for the upload; every attempt failed before its first write.
    const id = JobStore.newJobId(UPLOAD_JOB_ID_PREFIX);
    const name = `${id}/poisoned.png`;
    const container = uploads.containerName;
    await jobs.create({ id, type: THUMBNAIL_JOB_TYPE, data: { container, name } });
    const etag = '"0x8DD1234567890AB"';
    const jobId = await thumbnailJobOfPoisonedBlob(services, container, name, etag);
    assert.equal(jobId, id, 'the poison is recorded on the upload job its caller polls');
    assert.equal(await jobs.get(thumbnailJobIdFor(container, name, etag)), undefined);
    await services.runtime.recordPoison(
      { poisonQueue: 'webjobs-blobtrigger-poison', messageId: uniqueName('m'), insertedAt: new Date(), text: '{}' },
      { kind: 'blob', container, blobName: name, etag, functionId: 'Host.Functions.thumbnail' },
      jobId,
      3,
    );
    assert.equal((await jobs.get(id))?.status, 'failed');
  });

  it('fails the replayed job of a version poisoned again after its replay, and makes no job of its own', async () => {
    const blob = await uploaded('replayed.png');
    const container = uploads.containerName;
    const poisoned = (etag: string) =>
      [
        { poisonQueue: 'webjobs-blobtrigger-poison', messageId: uniqueName('m'), insertedAt: new Date(), text: '{}' },
        { kind: 'blob', container, blobName: 'replayed.png', etag, functionId: 'Host.Functions.thumbnail' },
      ] as const;
    // The version's job, dead-lettered after its attempts kept failing; then replayed: reopened, and the blob copied
    // onto itself with the replay's marker, a version of its own (a new ETag).
    const id = await thumbnailJobOfPoisonedBlob(services, container, 'replayed.png', blob.etag);
    const letter = await services.runtime.recordPoison(...poisoned(blob.etag), id, 3);
    const replaying = new JobRuntime({ statuses: jobs, deadLetters, redelivery: storageRedelivery(clients) });
    assert.equal((await replaying.replay(letter.id)).outcome, 'replayed');
    const replayEtag = (await uploads.getBlobClient('replayed.png').getProperties()).etag ?? '';
    assert.notEqual(replayEtag, blob.etag);
    // The version replaced by the replay's copy: its metadata is not read (If-Match fails), its own job is found.
    assert.equal(await thumbnailJobOfPoisonedBlob(services, container, 'replayed.png', blob.etag), id);
    // Every attempt of the replay failed too.
    const jobId = await thumbnailJobOfPoisonedBlob(services, container, 'replayed.png', replayEtag);
    assert.equal(jobId, id, 'the poison is recorded on the job that was replayed');
    assert.equal(await jobs.get(thumbnailJobIdFor(container, 'replayed.png', replayEtag)), undefined);
    await services.runtime.recordPoison(...poisoned(replayEtag), jobId, 3);
    assert.equal((await jobs.get(id))?.status, 'failed');
  });

  it('rewrites thumbnails of its own version (a retried attempt)', async () => {
    const v1 = await uploaded('retried.png', 300, 150);
    await thumbnails.getBlockBlobClient('128/retried.png.webp').uploadData(Buffer.from('partial'), {
      metadata: { [SOURCE_ETAG_METADATA]: bareEtag(v1.etag) },
    });
    const { outcome, job } = await runThumbnailJob(services, v1);
    assert.equal(outcome, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual(await stored('128/retried.png.webp'), { source: bareEtag(v1.etag), width: 128, height: 64 });
  });

  it('never serves a thumbnail made from an older version of the upload, and leaves it for the newer job', async () => {
    const v1 = await uploaded('served.png', 200, 200);
    assert.equal((await runThumbnailJob(services, v1)).outcome, 'succeeded');
    assert.equal((await readThumbnail({ thumbnails, uploads }, '128', 'served.png.webp', NO_COPY_YET)).kind, 'image');
    const v2 = await uploaded('served.png', 300, 150);
    assert.equal((await readThumbnail({ thumbnails, uploads }, '128', 'served.png.webp', NO_COPY_YET)).kind, 'stale');
    assert.equal((await stored('128/served.png.webp')).source, bareEtag(v1.etag), 'not deleted by the route');
    assert.equal((await runThumbnailJob(services, v2)).outcome, 'succeeded');
    const served = await readThumbnail({ thumbnails, uploads }, '128', 'served.png.webp', NO_COPY_YET);
    assert.equal(served.kind === 'image' && (await sharp(served.body).metadata()).height, 64);
  });

  it('loses to a newer version whose thumbnails land between its check of the upload and its write', async () => {
    const v1 = await uploaded('window.png', 200, 200);
    // Thumbnails of an earlier version: version 1 has to ask whether it is current before replacing them.
    for (const width of [128, 256]) {
      await thumbnails.getBlockBlobClient(`${width}/window.png.webp`).uploadData(Buffer.from('v0'), {
        metadata: { [SOURCE_ETAG_METADATA]: 'v0' },
      });
    }
    const checked = latch();
    const gate = latch();
    let checks = 0;
    const slow = runThumbnailJob(
      {
        ...services,
        // The first answer is taken while version 1 is current, and held back until version 2 has finished.
        currentUploadEtag: async (name) => {
          const answer = await currentUploadEtag(uploads, name);
          if (checks++ === 0) {
            checked.open();
            await gate.opened;
          }
          return answer;
        },
      },
      v1,
    );
    await checked.opened;
    const v2 = await uploaded('window.png', 300, 150);
    assert.equal((await runThumbnailJob(services, v2)).outcome, 'succeeded');
    gate.open();
    const older = await slow;
    assert.equal(older.outcome, 'superseded', JSON.stringify(older.job.error));
    assert.equal(checks, 2, 'asked again after its conditional write failed');
    assert.deepEqual(await stored('128/window.png.webp'), { source: bareEtag(v2.etag), width: 128, height: 64 });
    assert.deepEqual(await stored('256/window.png.webp'), { source: bareEtag(v2.etag), width: 256, height: 128 });
  });

  it('removes the thumbnails it wrote when it finds itself superseded, and no other', async () => {
    const v1 = await uploaded('partial.png', 200, 200);
    const gate = latch();
    const read = latch();
    const slow = runThumbnailJob(services, v1, async () => {
      const content = await readUploadVersion(uploads, v1.name, v1.etag);
      read.open();
      await gate.opened;
      return content;
    });
    await read.opened;
    // Version 2 arrives, and its job has written one size so far.
    await uploaded('partial.png', 300, 150);
    const newer = await thumbnails
      .getBlockBlobClient('256/partial.png.webp')
      .uploadData(Buffer.from('v2'), { metadata: { [SOURCE_ETAG_METADATA]: 'v2' } });
    gate.open();
    const older = await slow;
    assert.equal(older.outcome, 'superseded');
    assert.equal(await thumbnails.getBlobClient('128/partial.png.webp').exists(), false, "version 1's 128 removed");
    assert.equal((await thumbnails.getBlobClient('256/partial.png.webp').getProperties()).etag, newer.etag);
  });

  describe('storage requests of one job, counted by a proxy in front of Azurite', () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      const target = new URL(/BlobEndpoint=([^;]+)/.exec(testConnectionString())?.[1] ?? '');
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://proxy').pathname)
        .split('/')
        .slice(3)
        .join('/');
      seen.push(`${req.method} ${path}`);
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (response) => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    let counted: ThumbnailJobServices;

    before(async () => {
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const { port } = proxy.address() as AddressInfo;
      const viaProxy = BlobServiceClient.fromConnectionString(
        testConnectionString().replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1`),
      );
      const countedUploads = viaProxy.getContainerClient(uploads.containerName);
      counted = {
        ...services,
        uploads: countedUploads,
        thumbnails: viaProxy.getContainerClient(thumbnails.containerName),
        currentUploadEtag: (name) => currentUploadEtag(countedUploads, name),
      };
    });
    after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

    it("a name's first upload: one read of the upload and one write per size, as before", async () => {
      const v1 = await uploaded('counted.png', 300, 150);
      seen.length = 0;
      assert.equal((await runThumbnailJob(counted, v1)).outcome, 'succeeded');
      assert.deepEqual(seen.sort(), ['GET counted.png', 'PUT 128/counted.png.webp', 'PUT 256/counted.png.webp']);
    });

    it('a re-upload of a name: per size a refused write, a read and a conditional write; one look at the upload', async () => {
      const v2 = await uploaded('counted.png', 200, 200);
      seen.length = 0;
      assert.equal((await runThumbnailJob(counted, v2)).outcome, 'succeeded');
      assert.deepEqual(seen.sort(), [
        'GET counted.png',
        'HEAD 128/counted.png.webp',
        'HEAD 256/counted.png.webp',
        'HEAD counted.png',
        'PUT 128/counted.png.webp',
        'PUT 128/counted.png.webp',
        'PUT 256/counted.png.webp',
        'PUT 256/counted.png.webp',
      ]);
      assert.equal((await stored('128/counted.png.webp')).source, bareEtag(v2.etag));
    });
  });
});
