import { TableClient, TableServiceClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { type QueueClient, QueueServiceClient } from '@azure/storage-queue';

import { serviceUriOf, type StorageConnection, type StorageService } from '../config/connections';
import { storageCredential } from '../identity/storageCredential';
import { type BlobTriggerProperties, readBlobContent, readBlobProperties } from './restBlob';
import { type RestAuth, StorageRestClient } from './restClient';
import { type HostQueue, RestQueue } from './restQueue';

const MAX_CACHED_CONTAINERS = 256;

/** A connection string's settings, keys without case (`AccountKey`, `QueueEndpoint`, ...). */
function connectionStringParts(connectionString: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) parts.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  return parts;
}

/** A service's endpoint from a connection string: `<Service>Endpoint`, else built from the account and suffix. */
function endpointOf(parts: Map<string, string>, service: StorageService): string | undefined {
  const explicit = parts.get(`${service}endpoint`);
  if (explicit) return explicit;
  const account = parts.get('accountname');
  if (!account) return undefined;
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  return `${protocol}://${account}.${service}.${parts.get('endpointsuffix') ?? 'core.windows.net'}`;
}

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
  readonly #restClients = new Map<string, StorageRestClient>();

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

  /** A queue for the host's own hot path (listeners, the blob trigger queue): the lean REST client, not the SDK. */
  hostQueue(name: string): HostQueue {
    return new RestQueue(this.#restClient('queue'), name);
  }

  /** A blob's properties, read past the blob front as {@link internalContainer} reads (no event is raised). */
  internalBlobProperties(container: string, blobName: string): Promise<BlobTriggerProperties> {
    return readBlobProperties(this.#restClient('blob', true), container, blobName);
  }

  /**
   * A blob's content, read past the blob front with the lean client, of the version `ifMatch` names: the blob
   * trigger's download, once per invocation, where the SDK's pipeline would cost the host more CPU than the read.
   */
  internalBlobContent(container: string, blobName: string, ifMatch?: string): Promise<Buffer> {
    return readBlobContent(this.#restClient('blob', true), container, blobName, ifMatch);
  }

  #restClient(service: StorageService, direct = false): StorageRestClient {
    const cacheKey = `${service}${direct ? ':direct' : ''}`;
    let client = this.#restClients.get(cacheKey);
    if (client) return client;
    const c = this.connection;
    let endpoint: string | undefined;
    let auth: RestAuth;
    if (c.kind === 'connectionString') {
      const parts = connectionStringParts(c.connectionString);
      endpoint = endpointOf(parts, service);
      const key = parts.get('accountkey');
      const sas = parts.get('sharedaccesssignature');
      const accountName = parts.get('accountname');
      if (key && accountName) auth = { kind: 'sharedKey', accountName, key: Buffer.from(key, 'base64') };
      else if (sas) auth = { kind: 'sas', query: sas.replace(/^\?/, '') };
      else throw new Error(`Connection "${c.setting}" has neither an AccountKey nor a SharedAccessSignature`);
    } else {
      endpoint = serviceUriOf(c, service);
      auth = { kind: 'bearer', credential: this.#tokenCredential() };
    }
    if (!endpoint) throw new Error(`Connection "${c.setting}" names no ${service} endpoint`);
    if (direct && this.directBlobEndpoint) endpoint = this.directBlobEndpoint(endpoint) ?? endpoint;
    client = new StorageRestClient(endpoint, auth);
    this.#restClients.set(cacheKey, client);
    return client;
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
