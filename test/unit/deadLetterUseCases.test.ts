import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { type BlobPoisonPorts, handleBlobPoisonMessage } from '../../shared/deadletters/blobPoison';
import { discardDeadLetter } from '../../shared/deadletters/deadLetterRequests';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { poisonedWebhookFacts, recordPoisonedWebhook } from '../../shared/notify/webhookPoison';
import { webhookJobEventRecorder } from '../../shared/notify/webhookQueueServices';
import { MemoryDeadLetters, MemoryJobStatuses } from '../support/memoryJobPorts';

const POISON_QUEUE = 'webjobs-blobtrigger-poison';

function delivery(text: string) {
  return { poisonQueue: POISON_QUEUE, messageId: 'm-1', insertedAt: new Date('2026-11-25T10:00:00Z'), text };
}

const receipt = { popReceipt: 'pop', expiresAt: new Date('2026-12-02T10:00:00Z'), dequeueCount: 1 };

function hostPoisonMessage(container: string, blobName = 'upl_1/a.png') {
  return JSON.stringify({
    FunctionId: 'Host.Functions.thumbnail',
    ContainerName: container,
    BlobName: blobName,
    ETag: '"0x1"',
  });
}

describe('blob trigger poison messages', () => {
  let statuses: MemoryJobStatuses;
  let deadLetters: MemoryDeadLetters;
  let held: { messageId: string; popReceipt: string; hiddenForSeconds: number }[];
  let holdAnswer: 'held' | 'gone';
  let ports: BlobPoisonPorts;

  beforeEach(() => {
    statuses = new MemoryJobStatuses();
    deadLetters = new MemoryDeadLetters();
    held = [];
    holdAnswer = 'held';
    const runtime = new JobRuntime({ statuses, deadLetters });
    ports = {
      ownContainer: 'uploads',
      holdForOwner: (hold) => {
        held.push(hold);
        return Promise.resolve(holdAnswer);
      },
      jobIdOfBlob: (_container, blobName, etag) =>
        Promise.resolve(blobName === 'upl_1/a.png' && etag === '"0x1"' ? 'upl_1' : undefined),
      recordPoison: (d, source, jobId, count) => runtime.recordPoison(d, source, jobId, count),
    };
  });

  it("leaves another app's message on the queue, hidden in place for a hold that doubles to 10 minutes", async () => {
    const text = hostPoisonMessage('someone-elses-images');
    const now = new Date('2026-11-25T10:00:00Z');
    const expiresAt = new Date('2026-12-02T10:00:00Z');
    const holds: (number | undefined)[] = [];
    for (const dequeueCount of [1, 2, 3, 4, 7, 8, 9, 40]) {
      const handled = await handleBlobPoisonMessage(
        ports,
        delivery(text),
        { popReceipt: `pop-${dequeueCount}`, expiresAt, dequeueCount },
        now,
      );
      assert.equal(handled.outcome, 'left-for-owner');
      assert.ok(handled.outcome === 'left-for-owner');
      assert.equal(handled.container, 'someone-elses-images');
      holds.push(handled.hiddenForSeconds);
    }
    assert.deepEqual(holds, [5, 10, 20, 40, 320, 600, 600, 600]);
    assert.deepEqual(
      held.map((hold) => [hold.messageId, hold.popReceipt]),
      [1, 2, 3, 4, 7, 8, 9, 40].map((n) => ['m-1', `pop-${n}`]),
      'the message this receive holds, by its own id: never a copy',
    );
    assert.equal(deadLetters.letters.size, 0);
  });

  it("never hides another app's message past its own expiry, and holds nothing without a receipt", async () => {
    const text = hostPoisonMessage('someone-elses-images');
    const now = new Date('2026-11-25T10:00:00Z');
    const soon = await handleBlobPoisonMessage(
      ports,
      delivery(text),
      { popReceipt: 'p', expiresAt: new Date(now.getTime() + 90_000), dequeueCount: 9 },
      now,
    );
    assert.ok(soon.outcome === 'left-for-owner');
    assert.equal(soon.hiddenForSeconds, 89, 'it may expire as it would have');
    const expired = await handleBlobPoisonMessage(
      ports,
      delivery(text),
      { popReceipt: 'p', expiresAt: new Date(now.getTime() - 1000), dequeueCount: 1 },
      now,
    );
    assert.ok(expired.outcome === 'left-for-owner');
    assert.equal(expired.hiddenForSeconds, 0);
    held.length = 0;
    const manual = await handleBlobPoisonMessage(ports, delivery(text), undefined, now);
    assert.deepEqual(manual, {
      outcome: 'left-for-owner',
      container: 'someone-elses-images',
      hiddenForSeconds: undefined,
    });
    holdAnswer = 'gone';
    const gone = await handleBlobPoisonMessage(
      ports,
      delivery(text),
      { popReceipt: 'p', expiresAt: undefined, dequeueCount: 1 },
      now,
    );
    assert.deepEqual(gone, {
      outcome: 'left-for-owner',
      container: 'someone-elses-images',
      hiddenForSeconds: undefined,
    });
    assert.equal(held.length, 1);
    assert.equal(deadLetters.letters.size, 0);
  });

  it("records its own container's blob with the blob as source, fails the blob's job, and names the blob", async () => {
    await statuses.create({ id: 'upl_1', type: 'thumbnail', data: {} });
    const handled = await handleBlobPoisonMessage(ports, delivery(hostPoisonMessage('uploads')), receipt);
    assert.equal(handled.outcome, 'recorded');
    assert.ok(handled.outcome === 'recorded');
    assert.equal(handled.subject, 'uploads/upl_1/a.png');
    assert.deepEqual(handled.deadLetter.source, {
      kind: 'blob',
      container: 'uploads',
      blobName: 'upl_1/a.png',
      etag: '"0x1"',
      functionId: 'Host.Functions.thumbnail',
    });
    assert.equal(handled.deadLetter.jobId, 'upl_1');
    assert.equal(handled.deadLetter.dequeueCount, 3, 'the host tries a blob poisonBlobThreshold (3) times');
    assert.equal(statuses.jobs.get('upl_1')?.status, 'failed');
    assert.deepEqual(held, [], 'its own messages are not held');
  });

  it('records an unreadable message as a queue dead letter with its body intact, tied to no job', async () => {
    for (const text of ['not json at all', JSON.stringify({ ContainerName: 'uploads' })]) {
      const handled = await handleBlobPoisonMessage(ports, { ...delivery(text), messageId: text }, receipt);
      assert.ok(handled.outcome === 'recorded');
      assert.equal(handled.subject, undefined);
      assert.deepEqual(handled.deadLetter.source, { kind: 'queue', queue: POISON_QUEUE });
      assert.equal(handled.deadLetter.body, text);
      assert.equal(handled.deadLetter.jobId, undefined);
    }
    assert.deepEqual(held, [], 'its own messages are not held');
  });
});

describe('discarding a dead letter', () => {
  it('discards an open one, answers conflict for one already discarded, and not-found for none', async () => {
    const deadLetters = new MemoryDeadLetters();
    const runtime = new JobRuntime({ statuses: new MemoryJobStatuses(), deadLetters });
    const letter = await runtime.recordPoison(delivery('x'), { kind: 'queue', queue: 'q' }, undefined, 5);

    const first = await discardDeadLetter(deadLetters, letter.id, 'by a test');
    assert.ok(first.outcome === 'discarded');
    assert.equal(first.deadLetter.state, 'discarded');
    assert.equal(first.deadLetter.history.at(-1)?.note, 'by a test');

    const again = await discardDeadLetter(deadLetters, letter.id, 'by a test');
    assert.equal(again.outcome, 'conflict');
    assert.ok(again.outcome === 'conflict');
    assert.match(again.message, /already discarded/);

    assert.deepEqual(await discardDeadLetter(deadLetters, 'dl_missing', 'by a test'), { outcome: 'not-found' });
  });

  it('lets a storage failure through rather than calling it a conflict', async () => {
    const failing = { transition: () => Promise.reject(new Error('storage down')) };
    await assert.rejects(discardDeadLetter(failing, 'dl_1', 'note'), /storage down/);
  });
});

describe('poisoned webhooks', () => {
  it('reads the job and attempt a webhook message names, defaulting the attempt to 1', () => {
    assert.deepEqual(poisonedWebhookFacts({ jobId: 'ord_1', attempt: 6 }), { jobId: 'ord_1', attempt: 6 });
    assert.deepEqual(poisonedWebhookFacts({ jobId: 42 }), { jobId: undefined, attempt: 1 });
    assert.deepEqual(poisonedWebhookFacts('not an object'), { jobId: undefined, attempt: 1 });
    assert.deepEqual(poisonedWebhookFacts(null), { jobId: undefined, attempt: 1 });
  });

  it('records the dead letter against the webhooks queue and leaves the finished job as it is', async () => {
    const jobs = new MemoryJobStatuses();
    const deadLetters = new MemoryDeadLetters();
    await jobs.create({ id: 'ord_1', type: 'order', data: {} });
    await jobs.update('ord_1', () => ({ status: 'succeeded' }));
    const message = { jobId: 'ord_1', attempt: 6 };
    const letter = await recordPoisonedWebhook(
      { jobs, deadLetters },
      'webhooks',
      { ...delivery(JSON.stringify(message)), poisonQueue: 'webhooks-poison' },
      message,
    );
    assert.deepEqual(letter.source, { kind: 'queue', queue: 'webhooks' });
    assert.equal(letter.jobId, 'ord_1');
    assert.equal(letter.dequeueCount, 6);
    assert.equal(jobs.jobs.get('ord_1')?.status, 'succeeded');
  });

  it("records attempts on an existing job's timeline and nothing for a job that is gone", async () => {
    const appended: string[] = [];
    const record = webhookJobEventRecorder({
      get: (id) => Promise.resolve(id === 'ord_1' ? ({ id } as never) : undefined),
      appendEvent: (id, event) => {
        appended.push(`${id} ${event.kind}: ${event.message}`);
        return Promise.resolve();
      },
    });
    const event = { webhookId: 'wh_1', event: 'order.completed', attempt: 2, code: 'HTTP_500', message: 'm' };
    await record('ord_1', { type: 'webhook.failed', ...event });
    await record('ord_gone', { type: 'webhook.failed', ...event });
    assert.deepEqual(appended, ['ord_1 webhook.failed: order.completed attempt 2']);
  });
});
