/**
 * Where a thumbnail is stored: `{width}/{upload name}`, with the extension of what it holds appended when the upload's
 * own extension says something else. So a WebP thumbnail of `cat.jpg` is `128/cat.jpg.webp`, and with
 * `THUMBNAIL_FORMAT=source` a JPEG thumbnail of `cat.jpg` stays `128/cat.jpg` (of `cat.jpeg`, `128/cat.jpeg`). A
 * download then opens as the type it is, and two uploads never share a thumbnail name.
 *
 * | thumbnail content | extension | kept upload extensions |
 * | ----------------- | --------- | ---------------------- |
 * | `image/webp`      | `.webp`   | `.webp`                |
 * | `image/jpeg`      | `.jpg`    | `.jpg`, `.jpeg`        |
 * | `image/png`       | `.png`    | `.png`                 |
 * | `image/avif`      | `.avif`   | `.avif`                |
 */
const EXTENSIONS: Record<string, { extension: string; kept: readonly string[] }> = {
  'image/webp': { extension: 'webp', kept: ['webp'] },
  'image/jpeg': { extension: 'jpg', kept: ['jpg', 'jpeg'] },
  'image/png': { extension: 'png', kept: ['png'] },
  'image/avif': { extension: 'avif', kept: ['avif'] },
};

/** Every content type a thumbnail can have. */
export const THUMBNAIL_CONTENT_TYPES: readonly string[] = Object.keys(EXTENSIONS);

/** The stored name of a thumbnail of `uploadName` holding `contentType` (one of {@link THUMBNAIL_CONTENT_TYPES}). */
export function thumbnailName(uploadName: string, contentType: string): string {
  const mapping = EXTENSIONS[contentType];
  if (!mapping) throw new RangeError(`no thumbnail extension for ${contentType}`);
  const dot = uploadName.lastIndexOf('.');
  const extension = dot > uploadName.lastIndexOf('/') ? uploadName.slice(dot + 1).toLowerCase() : '';
  return mapping.kept.includes(extension) ? uploadName : `${uploadName}.${mapping.extension}`;
}

/** `{width}/{thumbnail name}`: the thumbnail's path inside the thumbnails container. */
export function thumbnailPath(width: number, uploadName: string, contentType: string): string {
  return `${width}/${thumbnailName(uploadName, contentType)}`;
}

/** Every path a thumbnail of `uploadName` at `width` may have been stored under, whatever format made it. */
export function possibleThumbnailPaths(width: number, uploadName: string): string[] {
  return [...new Set(THUMBNAIL_CONTENT_TYPES.map((type) => thumbnailPath(width, uploadName, type)))];
}

/**
 * The upload names a stored thumbnail name (without its `{width}/`) can belong to: the name itself (an extension that
 * was kept) and, when it ends in an appended thumbnail extension, the name without it. `cat.jpg.webp` may be the WebP
 * thumbnail of `cat.jpg` (or of an upload named `cat.jpg.webp`); the orphan purge keeps it while either exists.
 */
export function uploadNamesFor(thumbnailName: string): string[] {
  const names = [thumbnailName];
  for (const { extension } of Object.values(EXTENSIONS)) {
    const suffix = `.${extension}`;
    if (thumbnailName.toLowerCase().endsWith(suffix) && thumbnailName.length > suffix.length) {
      names.push(thumbnailName.slice(0, -suffix.length));
    }
  }
  return names;
}
