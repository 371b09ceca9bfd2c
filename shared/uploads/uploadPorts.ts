import { BlobSASPermissions } from '@azure/storage-blob';

import type { AppServices } from '../appServices';
import { JobStore } from '../jobs/jobStore';
import { sasProtocolFor } from '../storage/sasProtocol';
import { blobSasUrl } from '../storage/uploadSas';
import { UPLOAD_JOB_ID_PREFIX } from '../thumbnails/thumbnailJob';
import type { UploadPorts } from './authoriseUpload';

/** Upload job ids: `upl_…`, the folder its blob lands in. */

/** {@link UploadPorts} on the app's uploads container, job store and settings. */
export function uploadPorts(services: AppServices): UploadPorts {
  const { storage, names, config, jobs } = services;
  const uploads = storage.blobs.getContainerClient(names.containers.uploads);
  return {
    container: names.containers.uploads,
    sasLifetimeMs: config.uploads.sasLifetimeMs,
    maxBytes: config.uploads.maxBytes,
    newJobId: () => JobStore.newJobId(UPLOAD_JOB_ID_PREFIX),
    signUploadUrl: (blobName, contentType, startsOn, expiresOn) => {
      const blob = uploads.getBlockBlobClient(blobName);
      return blobSasUrl(blob, storage.blobs, {
        permissions: BlobSASPermissions.parse('cw'),
        startsOn,
        expiresOn,
        contentType,
        protocol: sasProtocolFor(blob.url),
      });
    },
    jobs,
  };
}
