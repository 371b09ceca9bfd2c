import { TableClient, TableServiceClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { type QueueClient, QueueServiceClient } from '@azure/storage-queue';

import { serviceUriOf, type StorageConnection } from '../config/connections';
import { storageCredential } from '../identity/storageCredential';

const MAX_CACHED_CONTAINERS = 256;

function cached(cache: Map<string, ContainerClient>, name: string, make: () => ContainerClient): ContainerClient {
  let client = cache.get(name);
  if (!client) {
    client = make();
    // Names come from messages too: keep the cache bounded whatever they say.
    if (cache.size < MAX_CACHED_CONTAINERS) cache.set(name, client);
  }
  return client;
}

/**
 * Clients for one storage account, created once per connection and shared by all listeners. A connection string
 * gives all three services; an identity-based connection gives the services it names, with one credential (so one
 * token cache) for all of them. A service the connection does not name fails when first used, naming the setting.
 */
export class StorageAccount {
  readonly connection: StorageConnection;
  #internalBlobs: BlobServiceClient | undefined;
  #blobs: BlobServiceClient | undefined;
  #queues: QueueServiceClient | undefined;
  #tables: TableServiceClient | undefined;
  #credential: TokenCredential | undefined;
  /** One client per container: a client builds its own request pipeline, so every message would pay for one. */
  readonly #containers = new Map<string, ContainerClient>();
  readonly #internalContainers = new Map<string, ContainerClient>();

  constructor(
    connection: StorageConnection,
    /** Where a blob endpoint really is when devhost's own requests may skip a proxy in front of it (the blob front). */
    private readonly directBlobEndpoint?: (endpoint: string) => string | undefined,
  ) {
    this.connection = connection;
  }

  get blobs(): BlobServiceClient {
    const c = this.connection;
    this.#blobs ??=
      c.kind === 'connectionString'
        ? BlobServiceClient.fromConnectionString(c.connectionString)
        : new BlobServiceClient(serviceUriOf(c, 'blob'), this.#tokenCredential());
    return this.#blobs;
  }

  get queues(): QueueServiceClient {
    const c = this.connection;
    this.#queues ??=
      c.kind === 'connectionString'
        ? QueueServiceClient.fromConnectionString(c.connectionString)
        : new QueueServiceClient(serviceUriOf(c, 'queue'), this.#tokenCredential());
    return this.#queues;
  }

  get tables(): TableServiceClient {
    const c = this.connection;
    this.#tables ??=
      c.kind === 'connectionString'
        ? TableServiceClient.fromConnectionString(c.connectionString, { allowInsecureConnection: true })
        : new TableServiceClient(serviceUriOf(c, 'table'), this.#tokenCredential());
    return this.#tables;
  }

  /**
   * A container for devhost's own requests: its bookkeeping (`azure-webjobs-hosts`) and reads of the app's blobs
   * (properties before an invocation). Past the blob front when there is one, since none of these raises an event.
   * Never for writes to the app's data (they must pass the front), nor for URLs the app sees.
   */
  internalContainer(name: string): ContainerClient {
    const blobs = (this.#internalBlobs ??= this.#directBlobs() ?? this.blobs);
    return cached(this.#internalContainers, name, () => blobs.getContainerClient(name));
  }

  #directBlobs(): BlobServiceClient | undefined {
    const c = this.connection;
    if (!this.directBlobEndpoint) return undefined;
    if (c.kind === 'connectionString') {
      const endpoint = /BlobEndpoint=([^;]+)/i.exec(c.connectionString)?.[1];
      const direct = endpoint ? this.directBlobEndpoint(endpoint) : undefined;
      return direct && endpoint
        ? BlobServiceClient.fromConnectionString(c.connectionString.replace(endpoint, direct))
        : undefined;
    }
    const direct = c.serviceUris.blob ? this.directBlobEndpoint(c.serviceUris.blob) : undefined;
    return direct ? new BlobServiceClient(direct, this.#tokenCredential()) : undefined;
  }

  queue(name: string): QueueClient {
    return this.queues.getQueueClient(name);
  }

  container(name: string): ContainerClient {
    return cached(this.#containers, name, () => this.blobs.getContainerClient(name));
  }

  table(name: string): TableClient {
    const c = this.connection;
    return c.kind === 'connectionString'
      ? TableClient.fromConnectionString(c.connectionString, name, { allowInsecureConnection: true })
      : new TableClient(serviceUriOf(c, 'table'), name, this.#tokenCredential());
  }

  #tokenCredential(): TokenCredential {
    if (this.connection.kind !== 'identity') throw new Error('not an identity-based connection');
    this.#credential ??= storageCredential(this.connection.identity, this.connection.setting);
    return this.#credential;
  }
}

/** One StorageAccount per distinct connection (connection string, or service URIs and credential). */
export class StorageAccounts {
  readonly #accounts = new Map<string, StorageAccount>();

  constructor(private readonly directBlobEndpoint?: (endpoint: string) => string | undefined) {}

  get(connection: StorageConnection): StorageAccount {
    let account = this.#accounts.get(connection.key);
    if (!account) {
      account = new StorageAccount(connection, this.directBlobEndpoint);
      this.#accounts.set(connection.key, account);
    }
    return account;
  }
}
