import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { type QueueClient, QueueServiceClient } from '@azure/storage-queue';

/** Clients for one storage account, created once per connection string and shared by all listeners. */
export class StorageAccount {
  readonly blobs: BlobServiceClient;
  readonly queues: QueueServiceClient;
  readonly tables: TableServiceClient;
  readonly #connectionString: string;

  constructor(connectionString: string) {
    this.#connectionString = connectionString;
    const allowInsecureConnection = { allowInsecureConnection: true };
    this.blobs = BlobServiceClient.fromConnectionString(connectionString);
    this.queues = QueueServiceClient.fromConnectionString(connectionString);
    this.tables = TableServiceClient.fromConnectionString(connectionString, allowInsecureConnection);
  }

  queue(name: string): QueueClient {
    return this.queues.getQueueClient(name);
  }

  container(name: string): ContainerClient {
    return this.blobs.getContainerClient(name);
  }

  table(name: string): TableClient {
    return TableClient.fromConnectionString(this.#connectionString, name, { allowInsecureConnection: true });
  }
}

/** One StorageAccount per distinct connection string. */
export class StorageAccounts {
  readonly #accounts = new Map<string, StorageAccount>();

  get(connectionString: string): StorageAccount {
    let account = this.#accounts.get(connectionString);
    if (!account) {
      account = new StorageAccount(connectionString);
      this.#accounts.set(connectionString, account);
    }
    return account;
  }
}
