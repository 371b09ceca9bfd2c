import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import sharp from 'sharp';

import { blobModelBindingData, supportsDeferredBinding } from '../../devhost/blob/blobTriggerEvent';
import type { DeadLetter } from '../../shared/deadletters/deadLetterTypes';
import { replayMetadata, verifiedReplayJobId } from '../../shared/deadletters/replayMarker';
import { parseBlobReference } from '../../shared/thumbnails/blobReference';
import { unsupportedImageFormat } from '../../shared/thumbnails/imageSignatures';
import { renderThumbnails } from '../../shared/thumbnails/renderThumbnails';
import { ThumbnailError } from '../../shared/thumbnails/thumbnailErrors';
import { possibleThumbnailPaths, thumbnailName, uploadNamesFor } from '../../shared/thumbnails/thumbnailNames';
import { animatedGif, bmpImage, testImage } from '../support/images';

const OPTIONS = { widths: [64], format: 'webp' as const, maxInputPixels: 1_000_000, timeoutSeconds: 10 };

describe('thumbnail names', () => {
  it('end in the extension of their content, keeping an upload name that already does', () => {
    assert.equal(thumbnailName('cat.jpg', 'image/webp'), 'cat.jpg.webp');
    assert.equal(thumbnailName('cat.webp', 'image/webp'), 'cat.webp');
    assert.equal(thumbnailName('cat.JPEG', 'image/jpeg'), 'cat.JPEG');
    assert.equal(thumbnailName('cat.png', 'image/jpeg'), 'cat.png.jpg');
    assert.equal(thumbnailName('upl_x/noextension', 'image/png'), 'upl_x/noextension.png');
    assert.equal(thumbnailName('dir.v2/file', 'image/avif'), 'dir.v2/file.avif');
    assert.throws(() => thumbnailName('a.gif', 'image/gif'), RangeError);
    assert.deepEqual(possibleThumbnailPaths(128, 'a.png').sort(), [
      '128/a.png',
      '128/a.png.avif',
      '128/a.png.jpg',
      '128/a.png.webp',
    ]);
  });

  it("map back to every upload they can belong to, so the orphan purge keeps a live upload's thumbnails", () => {
    for (const upload of ['cat.jpg', 'cat.webp', 'noextension', 'dir.v2/file', 'cat.JPEG']) {
      for (const type of ['image/webp', 'image/jpeg', 'image/png', 'image/avif']) {
        assert.ok(uploadNamesFor(thumbnailName(upload, type)).includes(upload), `${upload} as ${type}`);
      }
    }
    assert.deepEqual(uploadNamesFor('cat.jpg.webp'), ['cat.jpg.webp', 'cat.jpg']);
    assert.deepEqual(uploadNamesFor('.webp'), ['.webp']);
  });
});

describe('image formats', () => {
  it('recognises BMP and other formats libvips cannot read here, and nothing that sharp reads', async () => {
    assert.equal(unsupportedImageFormat(bmpImage()), 'BMP');
    assert.equal(unsupportedImageFormat(Buffer.from('8BPS\u0000\u0001', 'latin1')), 'PSD');
    assert.equal(unsupportedImageFormat(Buffer.from('0000010001001010', 'hex')), 'ICO');
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      assert.equal(unsupportedImageFormat(await testImage(10, 10, format)), undefined, format);
    }
    assert.equal(unsupportedImageFormat(await animatedGif(10, 10, 2)), undefined);
    assert.equal(unsupportedImageFormat(Buffer.from('BM is how this text starts')), undefined);
  });

  it('fails a BMP with UNSUPPORTED_IMAGE_FORMAT and keeps the frames of an animated GIF', async () => {
    await assert.rejects(
      renderThumbnails(bmpImage(), OPTIONS),
      (error) => error instanceof ThumbnailError && error.code === 'UNSUPPORTED_IMAGE_FORMAT',
    );
    const [thumbnail] = await renderThumbnails(await animatedGif(128, 64, 4), OPTIONS);
    assert.ok(thumbnail);
    assert.equal(thumbnail.frames, 4);
    assert.equal(thumbnail.contentType, 'image/webp');
    assert.deepEqual([thumbnail.width, thumbnail.height], [64, 32]);
    assert.equal((await sharp(thumbnail.data, { animated: true }).metadata()).pages, 4);
  });

  it('counts every frame of an animation against the pixel limit', async () => {
    // 100×100 is within 30,000 pixels; four frames of it are not.
    await assert.rejects(
      renderThumbnails(await animatedGif(100, 100, 4), { ...OPTIONS, maxInputPixels: 30_000 }),
      (error) => error instanceof ThumbnailError && error.code === 'TOO_MANY_PIXELS',
    );
  });
});

describe('replay markers', () => {
  const letter: DeadLetter = {
    id: 'dl_1000000000000_AAAAAAAAAAAAAAAA',
    source: { kind: 'blob', container: 'uploads', blobName: 'a.png', etag: '"1"', functionId: 'Host.Functions.x' },
    body: '{}',
    dequeueCount: 1,
    error: { code: 'NOT_AN_IMAGE', message: 'no' },
    jobId: 'thm_victim',
    deadLetteredAt: new Date(0).toISOString(),
    state: 'replayed',
    replays: 1,
    history: [],
  };
  const lookup = (found: DeadLetter | undefined) => (id: string) =>
    Promise.resolve(found && found.id === id ? found : undefined);

  it('bind a blob to a job only through a replayed dead letter of that very blob and job', async () => {
    const metadata = replayMetadata(letter);
    const blob = { container: 'uploads', name: 'a.png', metadata };
    assert.equal(await verifiedReplayJobId(blob, lookup(letter)), 'thm_victim');
    assert.equal(await verifiedReplayJobId({ ...blob, name: 'b.png' }, lookup(letter)), undefined, 'another name');
    assert.equal(await verifiedReplayJobId({ ...blob, container: 'other' }, lookup(letter)), undefined);
    assert.equal(
      await verifiedReplayJobId({ ...blob, metadata: { ...metadata, jobid: 'thm_other' } }, lookup(letter)),
      undefined,
      'another job',
    );
    assert.equal(await verifiedReplayJobId(blob, lookup({ ...letter, state: 'open' })), undefined, 'not replayed');
    assert.equal(await verifiedReplayJobId(blob, lookup(undefined)), undefined, 'no such dead letter');
    assert.equal(
      await verifiedReplayJobId({ ...blob, metadata: { jobid: 'thm_victim' } }, lookup(letter)),
      undefined,
      'jobid alone',
    );
  });
});

describe('deferred blob binding', () => {
  it('sends a reference the app reads back, and only for bindings that asked for it', () => {
    const data = blobModelBindingData('AzureWebJobsStorage', 'uploads', 'upl_x/a b.png');
    assert.equal(data.modelBindingData?.source, 'AzureStorageBlobs');
    const content = data.modelBindingData?.content;
    assert.ok(content);
    assert.deepEqual(
      parseBlobReference({
        content: Buffer.from(content),
        source: 'AzureStorageBlobs',
        contentType: 'application/json',
      }),
      { connection: 'AzureWebJobsStorage', containerName: 'uploads', blobName: 'upl_x/a b.png' },
    );
    assert.equal(supportsDeferredBinding({ properties: { supportsDeferredBinding: 'true' } }), true);
    assert.equal(supportsDeferredBinding({ properties: { supportsDeferredBinding: 'false' } }), false);
    assert.equal(supportsDeferredBinding({}), false);
  });
});
