import { app } from '@azure/functions';
import { BlobSASPermissions } from '@azure/storage-blob';
import { z } from 'zod';

import { appServices } from '../shared/appServices';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { JobStore } from '../shared/jobs/jobStore';
import { sasProtocolFor } from '../shared/storage/sasProtocol';
import { blobSasUrl } from '../shared/storage/uploadSas';
import { THUMBNAIL_JOB_TYPE } from '../shared/thumbnails/thumbnailJob';

const EXTENSIONS: Record<string, readonly string[]> = {
  'image/jpeg': ['jpg', 'jpeg'],
  'image/png': ['png'],
  'image/webp': ['webp'],
  'image/gif': ['gif'],
  'image/tiff': ['tif', 'tiff'],
  'image/avif': ['avif'],
};

const uploadRequest = z
  .object({
    fileName: z
      .string()
      .min(1, 'is required')
      .max(200, 'must be at most 200 characters')
      // Only a plain file name: no folders, no `..`, nothing that could leave the uploads container or its prefix.
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9 ._()-]*$/,
        'may contain only letters, digits, spaces, dots, dashes, underscores and parentheses, starting with a letter or digit',
      )
      .refine((name) => !name.includes('..'), 'may not contain ".."'),
    contentType: z.enum(Object.keys(EXTENSIONS) as [string, ...string[]], {
      message: `must be one of ${Object.keys(EXTENSIONS).join(', ')}`,
    }),
  })
  .strict()
  .superRefine((value, ctx) => {
    const extension = value.fileName.split('.').pop()?.toLowerCase() ?? '';
    const allowed = EXTENSIONS[value.contentType] ?? [];
    if (!allowed.includes(extension)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fileName'],
        message: `must end in .${allowed.join(' or .')} for ${value.contentType}`,
      });
    }
  });

/**
 * The valet-key pattern: the client gets a short-lived SAS URL that allows writing exactly one blob, and uploads the
 * bytes straight to storage. The thumbnail job runs when the blob lands.
 */
app.http('createUpload', {
  route: 'uploads',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, uploadRequest);
    if (!parsed.ok) return parsed.response;
    const { jobs, storage, names, config, ready } = appServices();
    await ready();
    const jobId = JobStore.newJobId('upl');
    const blobName = `${jobId}/${parsed.value.fileName}`;
    const blob = storage.blobs.getContainerClient(names.containers.uploads).getBlockBlobClient(blobName);
    const expiresOn = new Date(Date.now() + config.uploads.sasLifetimeMs);
    const uploadUrl = await blobSasUrl(blob, storage.blobs, {
      permissions: BlobSASPermissions.parse('cw'),
      startsOn: new Date(Date.now() - 60_000), // tolerate clock skew between client and storage
      expiresOn,
      contentType: parsed.value.contentType,
      protocol: sasProtocolFor(blob.url),
    });
    await jobs.create({
      id: jobId,
      type: THUMBNAIL_JOB_TYPE,
      data: { container: names.containers.uploads, name: blobName, contentType: parsed.value.contentType },
      progress: { step: 'awaiting-upload', index: 0, total: 1, percent: 0, message: 'waiting for the upload' },
      event: `upload of ${parsed.value.fileName} authorised until ${expiresOn.toISOString()}`,
    });
    const statusUrl = jobStatusUrl(jobId);
    return json(
      201,
      {
        jobId,
        statusUrl,
        upload: {
          url: uploadUrl,
          method: 'PUT',
          headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': parsed.value.contentType },
          expiresAt: expiresOn.toISOString(),
          maxBytes: config.uploads.maxBytes,
        },
        blob: { container: names.containers.uploads, name: blobName },
      },
      { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  },
});
