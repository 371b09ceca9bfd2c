import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';
import sharp from 'sharp';

import { foreignHoldSeconds } from '../../shared/deadletters/blobPoison';
import { bareEtag } from '../../shared/thumbnails/staleThumbnails';
import { thumbnailJobIdFor } from '../../shared/thumbnails/thumbnailJob';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { useOwnAzurite } from '../support/ownAzurite';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

// One test here reads webjobs-blobtrigger-poison, one queue per account, which every real app running in another
// test file would also take messages from: this file gets an account to itself.
useOwnAzurite();

const MASTER_KEY = 'test-master-key-thumbnails';
const admin = { 'x-functions-key': MASTER_KEY };
const MAX_PIXELS = 1_000_000;

interface DeadLetterView {
  id: string;
  jobId?: string;
  state: string;
  body: string;
  error: { code: string; message: string };
  source: { kind: string; container?: string; blobName?: string };
}

function thumbnailsOf(job: PublicJob): { width: number; url: string }[] {
  return (job.result?.['thumbnails'] as { width: number; url: string }[] | undefined) ?? [];
}

function sourceName(job: PublicJob): string | undefined {
  return (job.result?.['source'] as { name?: string } | undefined)?.name;
}

describe('thumbnail job', () => {
  let host: DevhostProcess;
  let prefix: string;
  let uploads: ContainerClient;
  let thumbnails: ContainerClient;
  const env = { DEVHOST_MASTER_KEY: MASTER_KEY, THUMBNAIL_MAX_PIXELS: String(MAX_PIXELS) };

  before(async () => {
    ({ host, prefix } = await startApp({ env }));
    uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
    thumbnails = storageClients().blobs.getContainerClient(`${prefix}-thumbnails`);
    await waitFor('the uploads container', () => uploads.exists());
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  /** The job of the blob's current version: its id is derived from container, name and ETag. */
  async function jobForBlob(name: string): Promise<PublicJob> {
    const etag = (await uploads.getBlobClient(name).getProperties()).etag ?? '';
    return waitForJob(host, thumbnailJobIdFor(uploads.containerName, name, etag));
  }

  it('writes a thumbnail per width for a blob uploaded straight to storage, upright and without metadata', async () => {
    const image = await testImage(800, 600, 'jpeg', 6);
    await uploads
      .getBlockBlobClient('photo.jpg')
      .uploadData(image, { blobHTTPHeaders: { blobContentType: 'image/jpeg' } });
    const job = await jobForBlob('photo.jpg');
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.percent, 100);
    assert.equal(sourceName(job), 'photo.jpg');
    for (const width of [128, 256, 512]) {
      const blob = thumbnails.getBlobClient(`${width}/photo.jpg.webp`);
      const properties = await blob.getProperties();
      assert.equal(properties.contentType, 'image/webp');
      // The blob's own URL names no version: never cached as fixed (the route sets its own caching, below).
      assert.equal(properties.cacheControl, 'no-cache');
      const meta = await sharp(await blob.downloadToBuffer()).metadata();
      // EXIF orientation 6: the 800×600 sensor image is shown 600 wide and 800 high.
      assert.equal(meta.width, width);
      assert.equal(meta.height, Math.round((width * 800) / 600));
      assert.equal(meta.exif, undefined, 'metadata stripped');
      assert.equal(meta.orientation, undefined);
    }
    const { status, headers, body } = await getJson<PublicJob>(host, `/api/jobs/${job.id}`);
    assert.equal(status, 200);
    assert.equal(headers.get('retry-after'), null, 'no Retry-After once finished');
    assert.ok(body.completedAt);
    assert.equal((body as unknown as Record<string, unknown>)['data'], undefined, 'private data is not shown');
  });

  it('hands out a SAS URL for a direct upload, and the job it created succeeds', async () => {
    const created = await postJson<{
      jobId: string;
      statusUrl: string;
      upload: { url: string; method: string; headers: Record<string, string> };
    }>(host, '/api/uploads', { fileName: 'holiday.png', contentType: 'image/png' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), created.body.statusUrl);
    const queued = await getJson<PublicJob>(host, `/api/jobs/${created.body.jobId}`);
    assert.equal(queued.status, 200);
    assert.equal(queued.headers.get('retry-after'), '2');
    const put = await fetch(created.body.upload.url, {
      method: 'PUT',
      headers: created.body.upload.headers,
      body: await testImage(300, 200, 'png'),
    });
    assert.equal(put.status, 201, await put.text());
    const job = await waitForJob(host, created.body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const thumbnailsOut = job.result?.['thumbnails'] as { width: number; path: string }[];
    // 300 px wide: 128 and 256 are smaller, 512 is not enlarged.
    assert.deepEqual(
      thumbnailsOut.map((t) => t.width),
      [128, 256, 300],
    );
    // The SAS allows exactly this blob: writing a neighbour with it fails.
    const neighbour = created.body.upload.url.replace('holiday.png', 'other.png');
    const refused = await fetch(neighbour, { method: 'PUT', headers: created.body.upload.headers, body: 'x' });
    assert.equal(refused.status, 403);
  });

  it('refuses a bad upload request with a problem naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ fileName: '../escape.png', contentType: 'image/png' }, 'fileName'],
      [{ fileName: 'a/b.png', contentType: 'image/png' }, 'fileName'],
      [{ fileName: 'doc.pdf', contentType: 'application/pdf' }, 'contentType'],
      [{ fileName: 'photo.png', contentType: 'image/jpeg' }, 'fileName'],
      [{ contentType: 'image/png' }, 'fileName'],
    ];
    for (const [body, field] of cases) {
      const response = await fetch(host.url('/api/uploads'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
      const problem = (await response.json()) as { errors: { field: string }[] };
      assert.ok(
        problem.errors.some((e) => e.field === field),
        `${JSON.stringify(body)} names ${field}`,
      );
    }
    const notJson = await fetch(host.url('/api/uploads'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    assert.equal(notJson.status, 400);
  });

  it('fails bad input for good, with its code on the job and a dead letter', async () => {
    const jpeg = await testImage(400, 300, 'jpeg');
    const inputs: [string, Buffer, string][] = [
      ['empty.png', Buffer.alloc(0), 'EMPTY_BLOB'],
      ['text.png', Buffer.from('this is not an image at all, just words'), 'NOT_AN_IMAGE'],
      ['truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'CORRUPT_IMAGE'],
      ['huge.png', await testImage(2000, 1000, 'png'), 'TOO_MANY_PIXELS'],
    ];
    await Promise.all(inputs.map(([name, bytes]) => uploads.getBlockBlobClient(name).uploadData(bytes)));
    const { body: letters } = await waitFor('four dead letters', async () => {
      const page = await getJson<{ deadLetters: DeadLetterView[] }>(host, '/api/deadletters?limit=100', {
        headers: admin,
      });
      const ours = page.body.deadLetters.filter((d) => inputs.some(([name]) => d.source.blobName === name));
      return ours.length === inputs.length ? { body: ours } : undefined;
    });
    for (const [name, , code] of inputs) {
      const letter = letters.find((d) => d.source.blobName === name);
      assert.ok(letter, name);
      assert.equal(letter.error.code, code, name);
      assert.equal(letter.state, 'open');
      assert.ok(letter.jobId);
      const job = await waitForJob(host, letter.jobId);
      assert.equal(job.status, 'failed');
      assert.equal(job.error?.code, code);
      assert.equal(job.attempts, 1, `${name}: a permanent failure is not retried`);
    }
    const anonymous = await fetch(host.url('/api/deadletters'));
    assert.equal(anonymous.status, 200, 'keys are not enforced unless asked, as Core Tools');
  });

  it('does not create a second job when the trigger is delivered again for the same blob version', async () => {
    await uploads.getBlockBlobClient('again.png').uploadData(await testImage(200, 200, 'png'));
    const job = await jobForBlob('again.png');
    assert.equal(job.status, 'succeeded');
    const before = (await thumbnails.getBlobClient('128/again.png.webp').getProperties()).etag;
    const run = await fetch(host.url('/admin/functions/thumbnail'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ input: `${prefix}-uploads/again.png` }),
    });
    assert.equal(run.status, 202);
    await host.waitForLine(new RegExp(`thumbnail job ${job.id} for again.png: already-done`));
    const after = await getJson<PublicJob>(host, `/api/jobs/${job.id}`);
    assert.equal(after.body.attempts, job.attempts);
    assert.equal((await thumbnails.getBlobClient('128/again.png.webp').getProperties()).etag, before);
    const all = (await getJson<{ jobs: PublicJob[] }>(host, '/api/jobs?type=thumbnail&limit=100')).body.jobs;
    assert.equal(all.filter((j) => sourceName(j) === 'again.png').length, 1);
  });

  it('gives every one of 20 concurrent uploads its thumbnails', async () => {
    const image = await testImage(640, 480, 'jpeg');
    const names = Array.from({ length: 20 }, (_, i) => `batch-${i}.jpg`);
    await Promise.all(names.map((name) => uploads.getBlockBlobClient(name).uploadData(image)));
    await waitFor(
      'all thumbnails',
      async () => {
        const found = await Promise.all(names.map((name) => thumbnails.getBlobClient(`512/${name}.webp`).exists()));
        return found.every(Boolean) || undefined;
      },
      90_000,
      500,
    );
    const jobs = (await getJson<{ jobs: PublicJob[] }>(host, '/api/jobs?type=thumbnail&status=succeeded&limit=100'))
      .body.jobs;
    for (const name of names) assert.equal(jobs.filter((j) => sourceName(j) === name).length, 1, name);
  });

  it("leaves another app's blob poison message on the shared queue: the same message, hidden in place, never re-sent", async () => {
    // Every app on the account shares this queue; the message names a container this app does not watch.
    const poison = storageClients().queues.getQueueClient('webjobs-blobtrigger-poison');
    await poison.createIfNotExists();
    const container = uniqueName('other-app-');
    const text = JSON.stringify({
      FunctionId: 'Host.Functions.otherApp',
      BlobType: 'BlockBlob',
      ContainerName: container,
      BlobName: 'photo.png',
      ETag: '"0x8DD0000000000"',
    });
    const sent = await poison.sendMessage(Buffer.from(text).toString('base64'), { messageTimeToLive: 3600 });

    // Run twice by this app under its own id, its dequeue count growing: the hold ran out and the message itself came
    // back, not a copy (a copy has a new id, and the host deletes the original once the function succeeds).
    const pattern = new RegExp(`poison message ${sent.messageId} is for container ${container} of another app`);
    const receives = (await host.waitForLines(pattern, 2, 60_000)).slice(0, 2).map((line) => {
      const match = /receive (\d+), hidden for (\d+) s/.exec(line);
      assert.ok(match, line);
      return [Number(match[1]), Number(match[2])] as const;
    });
    assert.ok(receives[0] && receives[1] && receives[1][0] > receives[0][0], JSON.stringify(receives));
    for (const [receive, seconds] of receives) {
      assert.equal(seconds, foreignHoldSeconds(receive, sent.expiresOn, new Date()), 'a hold that doubles');
    }

    // Its owner can still take it, as it was sent: same id, body, insertion and expiry time (not kept alive).
    const owned = await waitFor(
      'the owner receiving the message',
      async () => {
        const { receivedMessageItems } = await poison.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
        let mine: (typeof receivedMessageItems)[number] | undefined;
        for (const item of receivedMessageItems) {
          if (item.messageId === sent.messageId) mine = item;
          // Other tests' poison messages go straight back.
          else await poison.updateMessage(item.messageId, item.popReceipt, undefined, 0).catch(() => undefined);
        }
        return mine;
      },
      120_000,
      200,
    );
    assert.equal(Buffer.from(owned.messageText, 'base64').toString('utf8'), text);
    assert.equal(owned.insertedOn.getTime(), sent.insertedOn.getTime());
    assert.equal(owned.expiresOn.getTime(), sent.expiresOn.getTime());
    assert.ok(owned.dequeueCount >= 3, `dequeue count ${owned.dequeueCount}`);
    await poison.deleteMessage(owned.messageId, owned.popReceipt);
    const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
    assert.ok(
      !peekedMessageItems.some((item) => Buffer.from(item.messageText, 'base64').toString('utf8') === text),
      'no copy of it was left behind',
    );
    assert.equal(host.lines(new RegExp(`dead letter .* recorded for ${container}/`)).length, 0);
  });

  it('records a version poisoned before any attempt wrote its job on a job of its own, failed', async () => {
    // What three attempts whose hosts each died within the grace leave: the host's poison message, and no job (an
    // attempt writes a job it made only when it ends, fails, or outlives the grace).
    const poison = storageClients().queues.getQueueClient('webjobs-blobtrigger-poison');
    await poison.createIfNotExists();
    const etag = '"0x8DD1234567890AB"';
    const text = JSON.stringify({
      FunctionId: 'Host.Functions.thumbnail',
      BlobType: 'BlockBlob',
      ContainerName: uploads.containerName,
      BlobName: 'crashed.png',
      ETag: etag,
    });
    const jobId = thumbnailJobIdFor(uploads.containerName, 'crashed.png', etag);
    assert.equal((await getJson(host, `/api/jobs/${jobId}`)).status, 404);
    await poison.sendMessage(Buffer.from(text).toString('base64'));
    const job = await waitForJob(host, jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 'POISONED');
    const { body } = await getJson<{ deadLetters: DeadLetterView[] }>(host, '/api/deadletters?limit=100', {
      headers: admin,
    });
    const letter = body.deadLetters.find((d) => d.source.blobName === 'crashed.png');
    assert.ok(letter);
    assert.equal(letter.jobId, jobId);
    assert.equal(letter.body, text, 'the poison message, intact');
  });

  it("never serves a thumbnail an older version's job wrote late, and leaves it to be replaced", async () => {
    await uploads.getBlockBlobClient('late.png').uploadData(await testImage(200, 200, 'png'));
    assert.equal((await jobForBlob('late.png')).status, 'succeeded');
    const thumbnail = thumbnails.getBlockBlobClient('128/late.png.webp');
    const older = await thumbnail.downloadToBuffer();
    const olderMetadata = (await thumbnail.getProperties()).metadata ?? {};
    await uploads.getBlockBlobClient('late.png').uploadData(await testImage(300, 150, 'png'));
    assert.equal((await jobForBlob('late.png')).status, 'succeeded');
    const current = await fetch(host.url('/api/thumbnails/128/late.png.webp'));
    assert.equal(current.status, 200);
    assert.equal((await sharp(Buffer.from(await current.arrayBuffer())).metadata()).height, 64, 'version 2');
    // The state the slow job of version 1 used to leave: its thumbnail written over version 2's.
    await thumbnail.uploadData(older, {
      blobHTTPHeaders: { blobContentType: 'image/webp' },
      metadata: olderMetadata,
    });
    const stale = await fetch(host.url('/api/thumbnails/128/late.png.webp'));
    assert.equal(stale.status, 404);
    assert.equal(stale.headers.get('content-type'), 'application/problem+json');
    assert.equal(stale.headers.get('cache-control'), 'no-store');
    assert.match(((await stale.json()) as { detail: string }).detail, /current version/);
    assert.deepEqual(await thumbnail.downloadToBuffer(), older, 'left in place, not deleted by a read');
  });

  it("caches a version's URL for good, and never serves an old version's URL or stale bytes as current", async () => {
    const first = await uploads.getBlockBlobClient('cached.png').uploadData(await testImage(200, 200, 'png'));
    const v1 = await jobForBlob('cached.png');
    assert.equal(v1.status, 'succeeded', JSON.stringify(v1.error));
    const url1 = thumbnailsOf(v1)[0]?.url ?? '';
    assert.equal(url1, `/api/thumbnails/128/cached.png.webp?v=${encodeURIComponent(bareEtag(first.etag ?? ''))}`);

    const versioned = await fetch(host.url(url1));
    assert.equal(versioned.status, 200);
    assert.equal(versioned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(versioned.headers.get('content-type'), 'image/webp');
    assert.equal(versioned.headers.get('x-content-type-options'), 'nosniff');
    const etag1 = versioned.headers.get('etag') ?? '';
    assert.match(etag1, /^"[^"]+"$/, 'a strong ETag');
    assert.equal((await sharp(Buffer.from(await versioned.arrayBuffer())).metadata()).height, 128, 'version 1');

    const plain = host.url('/api/thumbnails/128/cached.png.webp');
    const unversioned = await fetch(plain);
    assert.equal(unversioned.status, 200);
    assert.equal(unversioned.headers.get('cache-control'), 'no-cache');
    assert.equal(unversioned.headers.get('etag'), etag1);
    assert.equal(unversioned.headers.get('x-content-type-options'), 'nosniff');
    await unversioned.arrayBuffer();
    const unchanged = await fetch(plain, { headers: { 'if-none-match': etag1 } });
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.headers.get('etag'), etag1);
    assert.equal(unchanged.headers.get('cache-control'), 'no-cache');
    assert.equal((await unchanged.arrayBuffer()).byteLength, 0, 'no body');

    const second = await uploads.getBlockBlobClient('cached.png').uploadData(await testImage(300, 150, 'png'));
    const v2 = await jobForBlob('cached.png');
    assert.equal(v2.status, 'succeeded', JSON.stringify(v2.error));
    const url2 = thumbnailsOf(v2)[0]?.url ?? '';
    assert.notEqual(url2, url1, 'a re-upload gets a new URL');
    assert.equal(url2, `/api/thumbnails/128/cached.png.webp?v=${encodeURIComponent(bareEtag(second.etag ?? ''))}`);

    // The old version's URL: not content a cache could keep under it, but a no-store pointer to the current one.
    const old = await fetch(host.url(url1), { redirect: 'manual' });
    assert.equal(old.status, 307);
    assert.equal(old.headers.get('cache-control'), 'no-store');
    assert.equal(old.headers.get('location'), url2);
    assert.equal(old.headers.get('etag'), null);
    const followed = await fetch(host.url(url1));
    assert.equal(followed.url, host.url(url2));
    assert.equal(followed.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await sharp(Buffer.from(await followed.arrayBuffer())).metadata()).height, 64, 'version 2');

    // A browser revalidating its copy of version 1 gets version 2, with a new ETag.
    const revalidated = await fetch(plain, { headers: { 'if-none-match': etag1 } });
    assert.equal(revalidated.status, 200);
    assert.equal(revalidated.headers.get('cache-control'), 'no-cache');
    const etag2 = revalidated.headers.get('etag') ?? '';
    assert.match(etag2, /^"[^"]+"$/);
    assert.notEqual(etag2, etag1);
    assert.equal((await sharp(Buffer.from(await revalidated.arrayBuffer())).metadata()).height, 64, 'version 2');
    assert.equal((await fetch(plain, { headers: { 'if-none-match': etag2 } })).status, 304);
  });

  it('answers 404 problem+json for an unknown job and pages the job list', async () => {
    const missing = await fetch(host.url('/api/jobs/job_doesnotexist00000000000'));
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const query = `/api/jobs?type=thumbnail&limit=5${token ? `&continuationToken=${encodeURIComponent(token)}` : ''}`;
      const page = await getJson<{ jobs: PublicJob[]; continuationToken?: string }>(host, query);
      assert.equal(page.status, 200);
      assert.ok(page.body.jobs.length <= 5);
      for (const job of page.body.jobs) {
        assert.ok(!seen.has(job.id), 'no job twice across pages');
        seen.add(job.id);
      }
      token = page.body.continuationToken;
      pages++;
    } while (token && pages < 50);
    assert.ok(pages >= 2 && seen.size >= 10, `${seen.size} jobs on ${pages} pages`);
    const bad = await fetch(host.url('/api/jobs?limit=1000'));
    assert.equal(bad.status, 400);
  });
});

describe('thumbnail dead letter replay', () => {
  it('completes a dead-lettered upload when it is replayed after the cause is fixed', async () => {
    const env = { DEVHOST_MASTER_KEY: MASTER_KEY, THUMBNAIL_MAX_PIXELS: String(MAX_PIXELS) };
    const first = await startApp({ env });
    const uploads = storageClients().blobs.getContainerClient(`${first.prefix}-uploads`);
    await waitFor('the uploads container', () => uploads.exists());
    await uploads.getBlockBlobClient('large.png').uploadData(await testImage(1500, 1000, 'png'));
    const letter = await waitFor('the dead letter', async () => {
      const page = await getJson<{ deadLetters: DeadLetterView[] }>(first.host, '/api/deadletters', { headers: admin });
      return page.body.deadLetters.find((d) => d.source.blobName === 'large.png');
    });
    assert.equal(letter.error.code, 'TOO_MANY_PIXELS');
    assert.equal(await first.host.stop(), 0);

    // The fix: a higher pixel limit. Same prefix, so the same data.
    const second = await startApp({ prefix: first.prefix, env: { ...env, THUMBNAIL_MAX_PIXELS: '5000000' } });
    try {
      const replay = await postJson<{ jobId: string }>(second.host, `/api/deadletters/${letter.id}/replay`, {}, admin);
      assert.equal(replay.status, 202);
      assert.equal(replay.body.jobId, letter.jobId);
      const job = await waitForJob(second.host, letter.jobId ?? '', 'succeeded');
      assert.equal(job.error, undefined);
      const again = await postJson(second.host, `/api/deadletters/${letter.id}/replay`, {}, admin);
      assert.equal(again.status, 409, 'a replayed dead letter is not replayed twice');
      const events = await getJson<{ events: { kind: string }[] }>(second.host, `/api/jobs/${job.id}/events`);
      assert.ok(events.body.events.some((e) => e.kind === 'replayed'));
    } finally {
      assert.equal(await second.host.stop(), 0);
    }
  });
});
