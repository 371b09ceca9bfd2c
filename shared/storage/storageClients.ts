import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';

import type { StorageConnection } from './storageConnection';
import { storageCredential } from './storageCredential';

/** SDK clients for one storage account, created once per process (they pool connections and cache tokens). */
export interface StorageClients {
  blobs: BlobServiceClient;
  queues: QueueServiceClient;
  table(name: string): TableClient;
}

const byConnection = new Map<string, StorageClients>();

function isLocalEndpoint(connectionString: string): boolean {
  return (
    /UseDevelopmentStorage=true/i.test(connectionString) ||
    /=http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(connectionString)
  );
}

function cached(key: string, create: () => StorageClients): StorageClients {
  let clients = byConnection.get(key);
  if (!clients) {
    clients = create();
    byConnection.set(key, clients);
  }
  return clients;
}

function tableCache(create: (name: string) => TableClient): (name: string) => TableClient {
  const tables = new Map<string, TableClient>();
  return (name) => {
    let client = tables.get(name);
    if (!client) {
      client = create(name);
      tables.set(name, client);
    }
    return client;
  };
}

/** Clients for a connection string or an identity-based connection (one credential, so one token cache). */
export function storageClients(connection: StorageConnection): StorageClients {
  if (connection.kind === 'connectionString') {
    const { connectionString } = connection;
    return cached(connectionString, () => {
      // Azurite speaks plain HTTP on loopback; anything else must use HTTPS.
      const allowInsecureConnection = isLocalEndpoint(connectionString);
      return {
        blobs: BlobServiceClient.fromConnectionString(connectionString),
        queues: QueueServiceClient.fromConnectionString(connectionString),
        table: tableCache((name) =>
          TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection }),
        ),
      };
    });
  }
  return cached(JSON.stringify(connection), () => {
    const credential = storageCredential(connection.identity);
    return {
      blobs: new BlobServiceClient(connection.blobServiceUri, credential),
      queues: new QueueServiceClient(connection.queueServiceUri, credential),
      table: tableCache((name) => new TableClient(connection.tableServiceUri, name, credential)),
    };
  });
}

/**
 * One account's blobs and queues with another's tables: the health probe reads the jobs table where `JOBS_STORAGE`
 * puts it, and the queues where the app's queues are.
 */
export function withTablesOf(main: StorageClients, tables: StorageClients): StorageClients {
  return { blobs: main.blobs, queues: main.queues, table: (name) => tables.table(name) };
}
