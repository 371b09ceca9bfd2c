import type { ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import type { BlobContent } from './thumbnailJob';

/**
 * Reads exactly one version of an upload (ETag-conditional): a newer version makes it `superseded`, a deletion
 * `deleted`. Called only once the version's size is known to be within the limit; passing that size saves the
 * properties request the SDK otherwise makes before downloading.
 */
export async function readUploadVersion(
  uploads: ContainerClient,
  name: string,
  etag: string,
  contentLength?: number,
): Promise<BlobContent> {
  try {
    const bytes = await uploads
      .getBlobClient(name)
      .downloadToBuffer(0, contentLength || undefined, { conditions: { ifMatch: etag } });
    return { kind: 'read', bytes };
  } catch (error) {
    // A deleted blob can answer a conditional read with 412 as well as 404 (Azurite does): ask what is there now.
    if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
    return (await currentUploadEtag(uploads, name)) === undefined ? { kind: 'deleted' } : { kind: 'superseded' };
  }
}

/** The ETag of an upload's current version, or undefined when it is gone. */
export async function currentUploadEtag(uploads: ContainerClient, name: string): Promise<string | undefined> {
  try {
    return (await uploads.getBlobClient(name).getProperties()).etag;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}
