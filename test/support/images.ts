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
