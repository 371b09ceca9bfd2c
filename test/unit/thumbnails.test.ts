import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';

import sharp from 'sharp';

import { renderThumbnails, type ThumbnailOptions } from '../../shared/thumbnails/renderThumbnails';
import { isSafeThumbnailName } from '../../shared/thumbnails/serveThumbnail';
import { thumbnailStanding } from '../../shared/thumbnails/staleThumbnails';
import {
  ifNoneMatchMatches,
  IMMUTABLE_CACHE_CONTROL,
  thumbnailReply,
  thumbnailVersion,
} from '../../shared/thumbnails/thumbnailCaching';
import { ThumbnailError } from '../../shared/thumbnails/thumbnailErrors';

const options: ThumbnailOptions = {
  widths: [128, 256, 512],
  format: 'source',
  maxInputPixels: 4_000_000,
  timeoutSeconds: 30,
};

function image(
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' = 'png',
  orientation?: number,
): Promise<Buffer> {
  let pipeline = sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 90 } } }).toFormat(
    format,
  );
  if (orientation) pipeline = pipeline.withMetadata({ orientation, exif: { IFD0: { Copyright: 'secret-owner' } } });
  return pipeline.toBuffer();
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

async function assertThumbnailError(input: Buffer, code: string, opts: ThumbnailOptions = options): Promise<void> {
  await assert.rejects(renderThumbnails(input, opts), (error: unknown) => {
    assert.ok(error instanceof ThumbnailError, `expected ThumbnailError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

describe('renderThumbnails', () => {
  it('renders each width in the source format, keeping the aspect ratio', async () => {
    const thumbs = await renderThumbnails(await image(1000, 500, 'jpeg'), options);
    assert.deepEqual(
      thumbs.map((t) => [t.width, t.height, t.contentType, t.extension]),
      [
        [128, 64, 'image/jpeg', 'jpg'],
        [256, 128, 'image/jpeg', 'jpg'],
        [512, 256, 'image/jpeg', 'jpg'],
      ],
    );
    for (const thumb of thumbs) assert.equal((await sharp(thumb.data).metadata()).format, 'jpeg');
  });

  it('never enlarges a small image', async () => {
    const thumbs = await renderThumbnails(await image(200, 100), options);
    assert.deepEqual(
      thumbs.map((t) => t.width),
      [128, 200, 200],
    );
  });

  it('converts to WebP when configured', async () => {
    const [thumb] = await renderThumbnails(await image(300, 300), { ...options, widths: [128], format: 'webp' });
    assert.equal(thumb?.contentType, 'image/webp');
    assert.equal((await sharp(thumb?.data).metadata()).format, 'webp');
  });

  it('applies EXIF orientation and strips metadata', async () => {
    // Orientation 6 = rotate 90° clockwise: a 400x200 landscape is displayed as 200x400 portrait.
    const [thumb] = await renderThumbnails(await image(400, 200, 'jpeg', 6), { ...options, widths: [100] });
    assert.equal(thumb?.width, 100);
    assert.equal(thumb?.height, 200);
    const metadata = await sharp(thumb?.data).metadata();
    assert.equal(metadata.exif, undefined, 'no EXIF left');
    assert.ok(!thumb?.data.includes(Buffer.from('secret-owner')));
  });

  it('is deterministic: the same input renders byte-identical thumbnails', async () => {
    const input = await image(640, 480, 'png');
    const first = await renderThumbnails(input, options);
    const second = await renderThumbnails(input, options);
    assert.deepEqual(
      first.map((t) => t.data),
      second.map((t) => t.data),
    );
  });

  it('refuses an empty upload', () => assertThumbnailError(Buffer.alloc(0), 'EMPTY_BLOB'));

  it('refuses bytes that are not an image', () =>
    assertThumbnailError(Buffer.from('%PDF-1.7 this is not an image'), 'NOT_AN_IMAGE'));

  it('refuses a truncated image', async () => {
    const full = await image(800, 600, 'jpeg');
    await assertThumbnailError(full.subarray(0, Math.floor(full.length / 2)), 'CORRUPT_IMAGE');
  });

  it('refuses an image with too many pixels before decoding it', async () => {
    await assertThumbnailError(await image(3000, 2000), 'TOO_MANY_PIXELS', { ...options, maxInputPixels: 1_000_000 });
  });

  it('refuses a PNG whose header declares 100000 x 100000 pixels (a decompression bomb) before decoding', async () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(100_000, 0);
    ihdr.writeUInt32BE(100_000, 4);
    ihdr.writeUInt8(8, 8); // bit depth
    ihdr.writeUInt8(0, 9); // greyscale
    const bomb = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', deflateSync(Buffer.alloc(1000))),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
    await assertThumbnailError(bomb, 'TOO_MANY_PIXELS');
  });
});

describe('thumbnail route names', () => {
  it('stay inside the thumbnails container', () => {
    for (const name of ['cat.jpg.webp', 'upl_abc/cat.jpg.webp', 'a b/ü.png'])
      assert.equal(isSafeThumbnailName(name), true);
    for (const name of ['', '../secret', 'a/../../b', 'a//b', './a', 'a/', 'a\\b']) {
      assert.equal(isSafeThumbnailName(name), false, name);
    }
  });
});

describe('thumbnail standing (whether the route may serve a thumbnail)', () => {
  const uploadsNow: Record<string, string> = { 'cat.png': '"0x8DC2"', 'a b/ü.png': '"0x8DD1"' };
  const lookup = (name: string) => Promise.resolve(uploadsNow[name]);
  const made = (name: string, etag?: string) => ({
    source: encodeURIComponent(name),
    ...(etag === undefined ? {} : { sourceetag: etag }),
  });

  it("is current when made from the upload's current version (ETag compared without quotes)", async () => {
    assert.equal(await thumbnailStanding(made('cat.png', '0x8DC2'), lookup), 'current');
    assert.equal(await thumbnailStanding(made('a b/ü.png', '0x8DD1'), lookup), 'current');
  });

  it('is stale when made from another version of the upload', async () => {
    assert.equal(await thumbnailStanding(made('cat.png', '0x8DC1'), lookup), 'stale');
  });

  it('is orphaned when the upload is gone, whatever version it was made from', async () => {
    assert.equal(await thumbnailStanding(made('dog.png', '0x8DC2'), lookup), 'orphaned');
    assert.equal(await thumbnailStanding(made('dog.png'), lookup), 'orphaned');
  });

  it('counts a thumbnail naming no source, or no version, as current (written before the metadata existed)', async () => {
    let asked = 0;
    const counting = (name: string) => {
      asked++;
      return lookup(name);
    };
    assert.equal(await thumbnailStanding(undefined, counting), 'current');
    assert.equal(await thumbnailStanding({ sourceetag: '0x1' }, counting), 'current');
    assert.equal(await thumbnailStanding({ source: '%E0%A4%A' }, counting), 'current');
    assert.equal(asked, 0, 'no upload looked up without a source name');
    assert.equal(await thumbnailStanding(made('cat.png'), lookup), 'current');
  });
});

describe('thumbnail caching (what the route tells browsers and CDNs)', () => {
  const served = { etag: '"0x8DC2AA"', version: '0x8DC2' };
  const ask = (version: string | null, ifNoneMatch: string | null = null) =>
    thumbnailReply(served, { version, ifNoneMatch });

  it("caches a versioned URL for good only when its v is the version served, with the blob's ETag", () => {
    assert.equal(thumbnailVersion('"0x8DC2"'), '0x8DC2', 'the ETag without quotes, as in sourceetag');
    assert.deepEqual(ask('0x8DC2'), {
      kind: 'content',
      status: 200,
      cacheControl: IMMUTABLE_CACHE_CONTROL,
      etag: served.etag,
    });
    assert.equal(IMMUTABLE_CACHE_CONTROL, 'public, max-age=31536000, immutable');
  });

  it('never answers an old or unknown v with content: a no-store redirect to the current version', () => {
    for (const version of ['0x8DC1', '', '0x8dc2', '"0x8DC2"']) {
      assert.deepEqual(ask(version), { kind: 'redirect', version: '0x8DC2', cacheControl: 'no-store' }, version);
    }
    // Matching validators do not turn an old link into a 304 either: its cached bytes are another version's.
    assert.equal(ask('0x8DC1', served.etag).kind, 'redirect');
  });

  it('redirects any v to the unversioned URL for a thumbnail that records no version', () => {
    assert.deepEqual(thumbnailReply({ etag: '"e"', version: undefined }, { version: '0x8DC2', ifNoneMatch: null }), {
      kind: 'redirect',
      version: undefined,
      cacheControl: 'no-store',
    });
  });

  it('serves the unversioned URL no-cache with the ETag, and 304 when If-None-Match names it', () => {
    assert.deepEqual(ask(null), { kind: 'content', status: 200, cacheControl: 'no-cache', etag: served.etag });
    for (const header of [served.etag, `W/${served.etag}`, `"other", ${served.etag}`, '*', ` ${served.etag} `]) {
      assert.deepEqual(
        ask(null, header),
        { kind: 'content', status: 304, cacheControl: 'no-cache', etag: served.etag },
        header,
      );
    }
    for (const header of ['"0x8DC2AB"', '0x8DC2AA', '"other"', '', 'W/"0x8DC2"']) {
      assert.equal((ask(null, header) as { status: number }).status, 200, header);
    }
    assert.equal((ask('0x8DC2', served.etag) as { status: number }).status, 304, 'the versioned URL revalidates too');
  });

  it('answers 200 without validators when the blob has no ETag', () => {
    assert.deepEqual(thumbnailReply({ etag: undefined, version: '1' }, { version: null, ifNoneMatch: '*' }), {
      kind: 'content',
      status: 200,
      cacheControl: 'no-cache',
    });
  });

  it('reads If-None-Match lists by quoted tags, so a comma inside a tag does not split it', () => {
    assert.equal(ifNoneMatchMatches('"a,b", "c"', '"a,b"'), true);
    assert.equal(ifNoneMatchMatches('"a,b"', '"a"'), false);
  });
});
