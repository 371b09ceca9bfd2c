import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';

/** Where the host keeps its own state in the `AzureWebJobsStorage` account. */
export const HOSTS_CONTAINER = 'azure-webjobs-hosts';
const INCOMPLETE = 'Incomplete';
const RECEIPT_LEASE_SECONDS = 30;

export type ReceiptOutcome = 'queued' | 'already-processed' | 'busy';

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/**
 * Blob receipts (`BlobReceiptManager`): one marker blob per function and blob version, at
 * `blobreceipts/{hostId}/{functionId}/{ETag}/{container}/{blob}`. A blob version is handed to the trigger queue by
 * exactly one host: the receipt is created with If-None-Match, leased while the message is enqueued, then marked
 * complete. "Complete" means queued, not processed; the queue stage retries and poisons.
 */
export class BlobReceipts {
  constructor(
    private readonly hostContainer: ContainerClient,
    private readonly hostId: string,
  ) {}

  receiptFor(functionId: string, etag: string, container: string, blobName: string): BlockBlobClient {
    // The ETag goes before the blob name because blob names may contain slashes.
    return this.hostContainer.getBlockBlobClient(
      `blobreceipts/${this.hostId}/${functionId}/${etag}/${container}/${blobName}`,
    );
  }

  /** Runs `enqueue` once per function and blob version across every host sharing this storage. */
  async claim(
    functionId: string,
    etag: string,
    container: string,
    blobName: string,
    enqueue: () => Promise<void>,
  ): Promise<ReceiptOutcome> {
    const receipt = this.receiptFor(functionId, etag, container, blobName);
    const existing = await this.#read(receipt);
    if (existing === 'complete') return 'already-processed';
    if (existing === 'missing') {
      try {
        await receipt.upload('', 0, {
          metadata: { [INCOMPLETE]: INCOMPLETE },
          conditions: { ifNoneMatch: '*' },
        });
      } catch (error) {
        const status = statusOf(error);
        if (status === 409 || status === 412) return 'busy';
        if (status !== 404) throw error;
        // First receipt of this host: create the container and try once more.
        await this.hostContainer.createIfNotExists();
        return this.claim(functionId, etag, container, blobName, enqueue);
      }
    }
    const lease = receipt.getBlobLeaseClient();
    try {
      await lease.acquireLease(RECEIPT_LEASE_SECONDS);
    } catch (error) {
      const status = statusOf(error);
      if (status === 409 || status === 404 || status === 412) return 'busy';
      throw error;
    }
    try {
      if ((await this.#read(receipt)) === 'complete') return 'already-processed';
      await enqueue();
      await receipt.setMetadata({}, { conditions: { leaseId: lease.leaseId } });
      return 'queued';
    } finally {
      await lease.releaseLease().catch(() => undefined);
    }
  }

  async #read(receipt: BlockBlobClient): Promise<'missing' | 'incomplete' | 'complete'> {
    try {
      const properties = await receipt.getProperties();
      const metadata = properties.metadata ?? {};
      const incomplete = Object.keys(metadata).some((key) => key.toLowerCase() === INCOMPLETE.toLowerCase());
      return incomplete ? 'incomplete' : 'complete';
    } catch (error) {
      if (statusOf(error) === 404) return 'missing';
      throw error;
    }
  }
}
