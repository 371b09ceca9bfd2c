import { type ModelBindingData, ResourceFactoryResolver } from '@azure/functions-extensions-base';
import { z } from 'zod';

/** The model binding data source the blob extension uses for deferred (SDK-type) blob bindings. */
export const BLOB_BINDING_SOURCE = 'AzureStorageBlobs';

/** Which blob a deferred blob trigger fired for: the host sends this instead of the blob's content. */
export interface BlobReference {
  /** The connection setting name (`AzureWebJobsStorage`). */
  connection: string;
  containerName: string;
  blobName: string;
}

const content = z.object({ Connection: z.string(), ContainerName: z.string().min(1), BlobName: z.string().min(1) });

/** Reads the host's model binding data (`{"Connection","ContainerName","BlobName"}` as JSON) into a reference. */
export function parseBlobReference(data: ModelBindingData | ModelBindingData[]): BlobReference {
  const one = Array.isArray(data) ? data[0] : data;
  const text = one?.content ? Buffer.from(one.content).toString('utf8') : '';
  const parsed = content.parse(JSON.parse(text));
  return { connection: parsed.Connection, containerName: parsed.ContainerName, blobName: parsed.BlobName };
}

/**
 * Lets the Node library turn a deferred blob binding into a {@link BlobReference}. With `sdkBinding: true` the host
 * never reads the blob itself, so the function decides whether to download it at all (an upload over the size limit
 * is refused without a byte of it in memory). `@azure/functions-extensions-blob` would hand over a full client; the
 * app only needs the name, and builds its clients from its own configuration.
 */
export function registerBlobReferenceFactory(): void {
  const resolver = ResourceFactoryResolver.getInstance();
  if (!resolver.hasResourceFactory(BLOB_BINDING_SOURCE)) {
    resolver.registerResourceFactory(BLOB_BINDING_SOURCE, parseBlobReference);
  }
}
