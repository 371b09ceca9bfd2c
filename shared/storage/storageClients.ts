import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';

/** SDK clients for one storage account, created once per process (they pool connections). */
export interface StorageClients {
  blobs: BlobServiceClient;
  queues: QueueServiceClient;
  table(name: string): TableClient;
}

const byConnectionString = new Map<string, StorageClients>();

function isLocalEndpoint(connectionString: string): boolean {
  return (
    /UseDevelopmentStorage=true/i.test(connectionString) ||
    /=http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(connectionString)
  );
}

export function storageClients(connectionString: string): StorageClients {
  let clients = byConnectionString.get(connectionString);
  if (!clients) {
    // Azurite speaks plain HTTP on loopback; anything else must use HTTPS.
    const allowInsecureConnection = isLocalEndpoint(connectionString);
    const tables = new Map<string, TableClient>();
    clients = {
      blobs: BlobServiceClient.fromConnectionString(connectionString),
      queues: QueueServiceClient.fromConnectionString(connectionString),
      table(name) {
        let client = tables.get(name);
        if (!client) {
          client = TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection });
          tables.set(name, client);
        }
        return client;
      },
    };
    byConnectionString.set(connectionString, clients);
  }
  return clients;
}
