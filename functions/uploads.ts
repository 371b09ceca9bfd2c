import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { authoriseUpload } from '../shared/uploads/authoriseUpload';
import { uploadPorts } from '../shared/uploads/uploadPorts';
import { uploadRequestSchema } from '../shared/uploads/uploadRequest';

/**
 * The valet-key pattern: the client gets a short-lived SAS URL that allows writing exactly one blob, and uploads the
 * bytes straight to storage. The thumbnail job runs when the blob lands.
 */
app.http('createUpload', {
  route: 'uploads',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, uploadRequestSchema);
    if (!parsed.ok) return parsed.response;
    const services = appServices();
    await services.ready();
    const upload = await authoriseUpload(uploadPorts(services), parsed.value, new Date());
    const statusUrl = jobStatusUrl(upload.jobId);
    return json(
      201,
      {
        jobId: upload.jobId,
        statusUrl,
        upload: {
          url: upload.url,
          method: 'PUT',
          headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': upload.contentType },
          expiresAt: upload.expiresAt.toISOString(),
          maxBytes: upload.maxBytes,
        },
        blob: { container: upload.container, name: upload.blobName },
      },
      { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  },
});
