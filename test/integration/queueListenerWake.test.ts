import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveConnection } from '../../devhost/config/connections';
import { HostLogger } from '../../devhost/log';
import { StorageAccount } from '../../devhost/storage/account';
import { QueueListener } from '../../devhost/triggers/queueListener';
import { uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

const connectionString = process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '';

describe("devhost's queue listener and the in-process announcement of a new message (Azurite)", () => {
  it('keeps an announcement that lands while a receive is in flight: the wait after an empty receive ends at once', async () => {
    const account = new StorageAccount(resolveConnection('Storage', { AzureWebJobsStorage: connectionString }, 'test'));
    const queue = account.hostQueue(uniqueName('wake'));
    await queue.createIfNotExists();
    let announce: (() => void) | undefined;
    let receives = 0;
    let announcedAt = 0;
    const receive = queue.receiveMessages.bind(queue);
    // The seventh receive finds the queue empty; as its answer comes back, a message is sent and announced (what the
    // blobs webhook does for the host's internal queue). By then the backoff has grown to about three seconds (2.6 to 4 s).
    Object.defineProperty(queue, 'receiveMessages', {
      value: async (...args: Parameters<typeof queue.receiveMessages>) => {
        const received = await receive(...args);
        if (++receives === 7) {
          assert.equal(received.length, 0);
          await queue.sendMessage('announced');
          announcedAt = Date.now();
          announce?.();
        }
        return received;
      },
    });
    let processedAt = 0;
    const listener = new QueueListener({
      queue,
      poisonQueue: undefined,
      batchSize: 16,
      newBatchThreshold: 8,
      maxPollingIntervalMs: 60_000,
      visibilityTimeoutMs: 0,
      maxDequeueCount: 5,
      messageEncoding: 'none',
      logger: new HostLogger('none'),
      process: () => {
        processedAt = Date.now();
        return Promise.resolve(true);
      },
      onWake: (wake) => {
        announce = wake;
        return () => undefined;
      },
    });
    listener.start();
    try {
      await waitFor('the announcement', () => announcedAt > 0, 20_000);
      await waitFor('the announced message processed', () => processedAt > 0, 20_000);
      // Lost, it waits out the backoff (2.6 s or more by now): kept, the next receive follows at once.
      assert.ok(processedAt - announcedAt < 1_000, `processed ${processedAt - announcedAt} ms after it was announced`);
    } finally {
      await listener.stop();
    }
  });
});
