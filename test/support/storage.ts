import { randomBytes } from 'node:crypto';

import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';

/**
 * The Azurite the test runner started for this run (test/run.ts). Tests never share names: each makes its own
 * queues, containers and tables with `uniqueName`.
 */
export function testConnectionString(): string {
  const value = process.env['TEST_STORAGE_CONNECTION_STRING'];
  if (!value)
    throw new Error(
      'TEST_STORAGE_CONNECTION_STRING is not set: run the tests with `npm test` (test/run.ts starts Azurite)',
    );
  return value;
}

/** A lower-case name valid for queues, containers and (without dashes) tables. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`.toLowerCase();
}

export function storageClients(connectionString = testConnectionString()) {
  return {
    queues: QueueServiceClient.fromConnectionString(connectionString),
    blobs: BlobServiceClient.fromConnectionString(connectionString),
    tables: TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true }),
    table: (name: string) =>
      TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true }),
  };
}
