import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';

import { renderThumbnails } from '../shared/thumbnails/renderThumbnails';

export const WIDTHS = [128, 256, 512];

/**
 * What the thumbnail job must do once it has an upload's bytes, and nothing more: resize with sharp (the app's
 * renderer), upload the sizes, upsert one status row. The hand-written pipeline and the bare blob function
 * (bench/apps/minimal-thumbnail) both run exactly this.
 */
export async function minimalThumbnailWork(
  name: string,
  source: Buffer,
  thumbnails: ContainerClient,
  status: TableClient,
): Promise<void> {
  const rendered = await renderThumbnails(source, {
    widths: WIDTHS,
    format: 'webp',
    maxInputPixels: 50_000_000,
    timeoutSeconds: 30,
  });
  await Promise.all(
    rendered.map((thumbnail, index) =>
      thumbnails
        .getBlockBlobClient(`${WIDTHS[index] ?? thumbnail.width}/${name}`)
        .uploadData(thumbnail.data, { blobHTTPHeaders: { blobContentType: thumbnail.contentType } }),
    ),
  );
  await status.upsertEntity({ partitionKey: name, rowKey: 'status', status: 'succeeded' }, 'Replace');
}
