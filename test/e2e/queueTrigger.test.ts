import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';

import { DevhostProcess } from '../support/devhostProcess';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

interface Names {
  IN_QUEUE: string;
  FAIL_QUEUE: string;
  NEXT_QUEUE: string;
  SEEN_TABLE: string;
}

function newNames(): Names {
  return {
    IN_QUEUE: uniqueName('in-'),
    FAIL_QUEUE: uniqueName('fail-'),
    NEXT_QUEUE: uniqueName('next-'),
    SEEN_TABLE: uniqueName('seen'),
  };
}

async function createQueues(
  names: Names,
): Promise<{ input: QueueClient; failing: QueueClient; next: QueueClient; seen: TableClient }> {
  const clients = storageClients();
  const input = clients.queues.getQueueClient(names.IN_QUEUE);
  const failing = clients.queues.getQueueClient(names.FAIL_QUEUE);
  const next = clients.queues.getQueueClient(names.NEXT_QUEUE);
  await Promise.all([input.create(), failing.create(), next.create()]);
  const seen = clients.table(names.SEEN_TABLE);
  await seen.createTable();
  return { input, failing, next, seen };
}

async function countEntities(table: TableClient): Promise<Map<string, Record<string, unknown>>> {
  const rows = new Map<string, Record<string, unknown>>();
  for await (const entity of table.listEntities<Record<string, unknown>>()) rows.set(entity.rowKey ?? '', entity);
  return rows;
}

describe('devhost queue trigger', () => {
  const names = newNames();
  let queues: Awaited<ReturnType<typeof createQueues>>;
  let host: DevhostProcess;

  before(async () => {
    queues = await createQueues(names);
    host = await DevhostProcess.start({ app: 'test/apps/queue-basic-app', env: { ...names } });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('hands JSON bodies over as objects and text as strings, with trigger metadata, then deletes the message', async () => {
    const json = await queues.input.sendMessage(b64(JSON.stringify({ orderId: 'o-42', n: 1 })));
    const text = await queues.input.sendMessage(b64('just text'));
    const rows = await waitFor('both messages recorded', async () => {
      const all = await countEntities(queues.seen);
      return all.has(json.messageId) && all.has(text.messageId) ? all : undefined;
    });
    const jsonRow = rows.get(json.messageId);
    assert.equal(jsonRow?.['bodyType'], 'object');
    assert.equal(jsonRow?.['body'], JSON.stringify({ orderId: 'o-42', n: 1 }));
    assert.equal(jsonRow?.['promoted'], 'o-42', 'JSON properties are promoted into the trigger metadata');
    assert.equal(jsonRow?.['dequeueCount'], 1);
    assert.equal(jsonRow?.['hasPopReceipt'], true);
    assert.ok(!Number.isNaN(Date.parse(String(jsonRow?.['insertionTime']))));
    const textRow = rows.get(text.messageId);
    assert.equal(textRow?.['bodyType'], 'string');
    assert.equal(textRow?.['queueTrigger'], JSON.stringify('just text'));
    await waitFor(
      'input queue drained',
      async () => (await queues.input.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length === 0,
    );
  });

  it('retries a failing message and moves it, body intact, to the poison queue after maxDequeueCount', async () => {
    const body = b64(JSON.stringify({ payload: 'keep me exactly', unicode: 'ünïcødé' }));
    const sent = await queues.failing.sendMessage(body);
    const poison = storageClients().queues.getQueueClient(`${names.FAIL_QUEUE}-poison`);
    const poisoned = await waitFor('message in the poison queue', async () => {
      if (!(await poison.exists())) return undefined;
      return (await poison.peekMessages()).peekedMessageItems[0];
    });
    assert.equal(poisoned.messageText, body, 'the poison queue holds the original body');
    assert.equal(host.lines(/ATTEMPT \d/).length, 3, 'invoked exactly maxDequeueCount (3) times');
    assert.deepEqual(
      host.lines(/ATTEMPT \d/).map((l) => /ATTEMPT (\d)/.exec(l)?.[1]),
      ['1', '2', '3'],
    );
    await host.waitForLine(/Message has reached MaxDequeueCount of 3\. Moving message to queue '.*-poison'\./);
    const left = await queues.failing.peekMessages();
    assert.equal(left.peekedMessageItems.length, 0, `original ${sent.messageId} deleted`);
  });

  it('moves a message that is not base64 to the poison queue without invoking, and says why', async () => {
    const before = host.lines(/Executing 'Functions.inspect'/).length;
    await queues.input.sendMessage('this is *not* base64!');
    const poison = storageClients().queues.getQueueClient(`${names.IN_QUEUE}-poison`);
    const poisoned = await waitFor('undecodable message poisoned', async () => {
      if (!(await poison.exists())) return undefined;
      return (await poison.peekMessages()).peekedMessageItems[0];
    });
    assert.equal(poisoned.messageText, 'this is *not* base64!');
    await host.waitForLine(/Message decoding has failed! Check MessageEncoding settings\. MessageId=/);
    assert.equal(host.lines(/Executing 'Functions.inspect'/).length, before, 'the function was not invoked');
  });

  it('wakes the next function at once when a function writes to its queue (fast path)', async () => {
    await queues.input.sendMessage(b64(JSON.stringify({ forward: 'hop-1' })));
    await host.waitForLine(/FORWARDED hop-1/, 10_000);
  });
});

describe('devhost queue trigger across instances', () => {
  it('shares a queue between two processes: every message runs exactly once, both take part', async () => {
    const names = newNames();
    const queues = await createQueues(names);
    const total = 40;
    await Promise.all(
      Array.from({ length: total }, (_, i) => queues.input.sendMessage(b64(JSON.stringify({ i, slowMs: 100 })))),
    );
    const [a, b] = await Promise.all([
      DevhostProcess.start({ app: 'test/apps/queue-basic-app', env: { ...names } }),
      DevhostProcess.start({ app: 'test/apps/queue-basic-app', env: { ...names } }),
    ]);
    try {
      const rows = await waitFor(
        'all messages recorded',
        async () => {
          const all = await countEntities(queues.seen);
          return all.size >= total ? all : undefined;
        },
        40_000,
      );
      const seenA = a.lines(/SEEN /).length;
      const seenB = b.lines(/SEEN /).length;
      assert.equal(seenA + seenB, total, `each message ran once in total (a=${seenA}, b=${seenB})`);
      assert.equal(rows.size, total);
      assert.ok(seenA > 0 && seenB > 0, 'both instances consumed messages');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('finishes the invocation in flight on a graceful stop and leaves unstarted messages in the queue', async () => {
    const names = newNames();
    const queues = await createQueues(names);
    const host = await DevhostProcess.start({ app: 'test/apps/queue-basic-app', env: { ...names } });
    const slow = await queues.input.sendMessage(b64(JSON.stringify({ slowMs: 2000 })));
    await host.waitForLine(new RegExp(`SEEN ${slow.messageId}`));
    const exit = host.stop();
    // Sent after the stop began: the stopping host must not take it.
    const late = await queues.input.sendMessage(b64(JSON.stringify({ late: true })));
    assert.equal(await exit, 0);
    assert.equal(
      host.lines(/Executed 'Functions.inspect' \(Succeeded/).length,
      1,
      'the in-flight invocation completed',
    );
    const remaining = (await queues.input.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map(
      (m) => m.messageId,
    );
    assert.deepEqual(remaining, [late.messageId], 'the finished message was deleted; the unstarted one is still there');
  });

  it('keeps renewing the visibility of a message whose work outlasts it, so it is not run twice', async () => {
    const names = newNames();
    const queues = await createQueues(names);
    // Receive visibility 2 s (renewed every second) against 5 s of work: without renewal it would reappear and run again.
    const host = await DevhostProcess.start({
      app: 'test/apps/queue-basic-app',
      env: { ...names, DEVHOST_RECEIVE_VISIBILITY_SECONDS: '2' },
    });
    try {
      const slow = await queues.input.sendMessage(b64(JSON.stringify({ slowMs: 5000 })));
      await host.waitForLine(/Executed 'Functions.inspect' \(Succeeded/, 20_000);
      const marker = await queues.input.sendMessage(b64(JSON.stringify({ after: true })));
      await host.waitForLine(new RegExp(`SEEN ${marker.messageId}`));
      assert.equal(host.lines(new RegExp(`SEEN ${slow.messageId}`)).length, 1, 'the slow message ran once');
      const left = await queues.input.peekMessages({ numberOfMessages: 32 });
      assert.ok(!left.peekedMessageItems.some((m) => m.messageId === slow.messageId), 'and was deleted');
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });
});
