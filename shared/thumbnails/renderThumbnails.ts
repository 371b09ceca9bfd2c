import sharp from 'sharp';

import { unsupportedImageFormat } from './imageSignatures';
import { ThumbnailError } from './thumbnailErrors';

/** Output formats: keep the source's format, or always WebP. */
export type ThumbnailFormatSetting = 'source' | 'webp';

export interface ThumbnailOptions {
  /** Target widths in pixels; images narrower than a width are not enlarged. */
  widths: readonly number[];
  format: ThumbnailFormatSetting;
  /** Images with more pixels than this are refused before decoding (decompression bombs). */
  maxInputPixels: number;
  /** Upper bound on the time one resize may take, in seconds; libvips aborts past it, so no input hangs the worker. */
  timeoutSeconds: number;
}

export interface RenderedThumbnail {
  width: number;
  height: number;
  contentType: string;
  /** File extension of the output format, without the dot. */
  extension: string;
  /** Animation frames (1 for a still image). */
  frames: number;
  data: Buffer;
}

type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif';

const SOURCE_FORMATS: Record<string, OutputFormat> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  heif: 'avif',
  avif: 'avif',
};
/**
 * Formats we accept as uploads. GIF and TIFF are thumbnailed as WebP; an animated GIF or WebP keeps its animation
 * (every frame, resized, in an animated WebP); a multi-page TIFF gives its first page.
 */
const ACCEPTED_INPUTS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif']);
const ANIMATED_INPUTS = new Set(['gif', 'webp']);
const CONTENT_TYPES: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};
const EXTENSIONS: Record<OutputFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };

function outputFormat(inputFormat: string, setting: ThumbnailFormatSetting, animated: boolean): OutputFormat {
  if (setting === 'webp' || animated) return 'webp';
  return SOURCE_FORMATS[inputFormat] ?? 'webp';
}

function classifyDecodeError(error: unknown): ThumbnailError {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message))
    return new ThumbnailError('TOO_MANY_PIXELS', 'The image has more pixels than allowed', { cause: error });
  if (/timeout/i.test(message))
    return new ThumbnailError('IMAGE_TIMEOUT', 'Decoding the image took too long', { cause: error });
  if (/unsupported image format|Input buffer contains unsupported/i.test(message)) {
    return new ThumbnailError('NOT_AN_IMAGE', 'The upload is not an image', { cause: error });
  }
  if (/compression format has not been built in|not built with/i.test(message)) {
    return new ThumbnailError('UNSUPPORTED_IMAGE_FORMAT', 'Images in this encoding are not supported', {
      cause: error,
    });
  }
  return new ThumbnailError('CORRUPT_IMAGE', `The image is truncated or corrupt: ${message.split('\n')[0] ?? ''}`, {
    cause: error,
  });
}

/**
 * Reads the image header only: format and dimensions, without decoding pixels. Used to refuse non-images and
 * decompression bombs before any pixel memory is allocated.
 */
async function inspect(
  input: Buffer,
  maxInputPixels: number,
): Promise<{ format: string; width: number; height: number; pages: number }> {
  if (input.length === 0) throw new ThumbnailError('EMPTY_BLOB', 'The upload is empty');
  const unsupported = unsupportedImageFormat(input);
  if (unsupported) {
    throw new ThumbnailError('UNSUPPORTED_IMAGE_FORMAT', `Images in ${unsupported} format are not supported`);
  }
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw classifyDecodeError(error);
  }
  const { format, width, height } = metadata;
  if (!format || !width || !height) throw new ThumbnailError('NOT_AN_IMAGE', 'The upload is not an image');
  if (!ACCEPTED_INPUTS.has(format)) {
    throw new ThumbnailError('UNSUPPORTED_IMAGE_FORMAT', `Images in ${format} format are not supported`);
  }
  // Every frame of an animation is decoded: the limit is on all of them together.
  const pages = ANIMATED_INPUTS.has(format) ? Math.max(1, metadata.pages ?? 1) : 1;
  if (width * height * pages > maxInputPixels) {
    throw new ThumbnailError(
      'TOO_MANY_PIXELS',
      `The image has ${width}x${height} pixels${pages > 1 ? ` in each of ${pages} frames` : ''}, more than the limit of ${maxInputPixels}`,
    );
  }
  return { format, width, height, pages };
}

/**
 * Renders one thumbnail per width: orientation from EXIF applied, aspect ratio kept, never enlarged, all metadata
 * (EXIF, GPS, ICC comments) stripped. The same input and options always give byte-identical outputs, which is what
 * makes re-processing a blob version harmless.
 */
export async function renderThumbnails(input: Buffer, options: ThumbnailOptions): Promise<RenderedThumbnail[]> {
  const { format: inputFormat, pages } = await inspect(input, options.maxInputPixels);
  const animated = pages > 1;
  const format = outputFormat(inputFormat, options.format, animated);
  const results: RenderedThumbnail[] = [];
  for (const width of options.widths) {
    try {
      const { data, info } = await sharp(input, {
        limitInputPixels: options.maxInputPixels,
        failOn: 'warning',
        sequentialRead: true,
        animated,
      })
        .timeout({ seconds: options.timeoutSeconds })
        .rotate()
        .resize({ width, withoutEnlargement: true })
        .toFormat(format, format === 'jpeg' ? { quality: 80, mozjpeg: true } : format === 'webp' ? { quality: 80 } : {})
        .toBuffer({ resolveWithObject: true });
      results.push({
        width: info.width,
        // An animation comes back as its frames stacked: one frame's height is what the caller sees.
        height: info.pageHeight ?? info.height,
        frames: info.pages ?? 1,
        contentType: CONTENT_TYPES[format],
        extension: EXTENSIONS[format],
        data,
      });
    } catch (error) {
      throw classifyDecodeError(error);
    }
  }
  return results;
}
