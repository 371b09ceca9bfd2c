import sharp from 'sharp';

/** A solid-colour test image; `orientation` adds an EXIF orientation tag (6 = rotate 90° clockwise to display). */
export function testImage(
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' = 'jpeg',
  orientation?: number,
): Promise<Buffer> {
  let pipeline = sharp({ create: { width, height, channels: 3, background: { r: 30, g: 120, b: 200 } } }).toFormat(
    format,
  );
  if (orientation) pipeline = pipeline.withMetadata({ orientation });
  return pipeline.toBuffer();
}

/** An animated GIF of `frames` solid frames of different colours, 100 ms each. */
export function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  return Promise.all(
    Array.from({ length: frames }, (_, i) =>
      sharp({ create: { width, height, channels: 3, background: { r: (i * 80) % 256, g: 40, b: 200 } } })
        .png()
        .toBuffer(),
    ),
  ).then((stills) =>
    sharp(stills, { join: { animated: true } })
      .gif({ delay: stills.map(() => 100) })
      .toBuffer(),
  );
}

/** A 2×2, 24-bit Windows bitmap: an image format libvips cannot read without ImageMagick. */
export function bmpImage(): Buffer {
  return Buffer.from(
    '424d460000000000000036000000280000000200000002000000010018000000000010000000130b0000130b0000' +
      '0000000000000000ff0000ff00000000ff000000ffffff0000',
    'hex',
  );
}
