import type { ContainerClient } from '@azure/storage-blob';

import { appServices } from '../appServices';
import { publicApiUrl } from '../http/apiRoutes';
import type { JobRuntime } from '../jobs/jobRuntime';
import { IdempotencyKeys } from '../orders/idempotencyKeys';
import { type QueueSender, queueSender } from '../workflow/queueSender';
import { defineExportJob, exportDownloadPath, type ExportJob } from './exportJob';
import { ledgerOrderPages } from './orderPages';

/** The order export's services on the app's storage, built once per process. */
export interface ExportServices {
  runtime: JobRuntime;
  job: ExportJob;
  /** The container the finished files are written to. */
  exports: ContainerClient;
  sender: QueueSender;
  /** The export queue: one message `{ jobId }` per run. */
  queue: string;
  /** The `Idempotency-Key` store in the exports scope; its table is made on the first request that sends a key. */
  idempotencyKeys: () => Promise<IdempotencyKeys>;
  /** The app's tables and containers, and the exports container; cheap once done, retried after a failure. */
  ready: () => Promise<void>;
}

let built: ExportServices | undefined;

export function exportServices(): ExportServices {
  if (built) return built;
  const { names, storage, runtime, sales, ready } = appServices();
  const queue = names.queues.exports;
  const exports = storage.blobs.getContainerClient(names.containers.exports);
  const job = defineExportJob({
    runtime,
    orders: ledgerOrderPages(sales),
    exports,
    queue,
    downloadUrl: (jobId) => publicApiUrl(exportDownloadPath(jobId)),
  });
  let exportsReady: Promise<unknown> | undefined;
  const keys = new IdempotencyKeys(storage.table(names.tables.idempotency), 'exports');
  let keysReady: Promise<unknown> | undefined;
  built = {
    runtime,
    job,
    exports,
    sender: queueSender(storage.queues),
    queue,
    idempotencyKeys: async () => {
      keysReady ??= keys.ensureTable().catch((error: unknown) => {
        keysReady = undefined;
        throw error;
      });
      await keysReady;
      return keys;
    },
    ready: async () => {
      await ready();
      exportsReady ??= exports.createIfNotExists().catch((error: unknown) => {
        exportsReady = undefined;
        throw error;
      });
      await exportsReady;
    },
  };
  return built;
}
