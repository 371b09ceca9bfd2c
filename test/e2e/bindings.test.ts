import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

describe('devhost input and output bindings', () => {
  let host: DevhostProcess;
  const clients = storageClients();

  before(async () => {
    host = await DevhostProcess.start({ app: 'test/apps/http-app' });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('binds a blob input from route parameters and writes a blob output', async () => {
    const container = clients.blobs.getContainerClient(uniqueName('bind-'));
    await container.create();
    await container.getBlockBlobClient('note.txt').upload('hello blob', 10);
    const response = await fetch(host.url(`/api/bindings/blob/${container.containerName}/note.txt`));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { text: 'hello blob' });
    const copy = await container.getBlobClient('copy-of-note.txt').downloadToBuffer();
    assert.equal(copy.toString(), 'copy:hello blob');
  });

  it('gives null for a missing input blob instead of failing', async () => {
    const container = clients.blobs.getContainerClient(uniqueName('bind-'));
    await container.create();
    const response = await fetch(host.url(`/api/bindings/blob/${container.containerName}/absent.txt`));
    assert.equal(response.status, 404);
  });

  it('binds one table entity by partition and row key, and a partition as a list', async () => {
    const name = uniqueName('bind').replace(/-/g, '');
    const table = clients.table(name);
    await table.createTable();
    await table.createEntity({ partitionKey: 'p1', rowKey: 'r1', colour: 'blue' });
    await table.createEntity({ partitionKey: 'p1', rowKey: 'r2', colour: 'red' });
    const one = (await (await fetch(host.url(`/api/bindings/table/${name}/p1/r1`))).json()) as {
      row: Record<string, unknown>;
    };
    assert.equal(one.row['colour'], 'blue');
    assert.equal(one.row['RowKey'], 'r1');
    const missing = (await (await fetch(host.url(`/api/bindings/table/${name}/p1/nope`))).json()) as { row: unknown };
    assert.equal(missing.row, null);
    const all = (await (await fetch(host.url(`/api/bindings/table/${name}/p1`))).json()) as {
      rows: Record<string, unknown>[];
    };
    assert.deepEqual(all.rows.map((row) => row['colour']).sort(), ['blue', 'red']);
  });

  it('writes every item of an array to a queue output', async () => {
    const queue = clients.queues.getQueueClient(uniqueName('bind-'));
    const response = await fetch(host.url(`/api/bindings/queue/${queue.name}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first: true }),
    });
    assert.equal(response.status, 202);
    const texts = await waitFor('two messages', async () => {
      const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
      return peekedMessageItems.length === 2 ? peekedMessageItems : undefined;
    });
    const bodies = texts.map((item) => JSON.parse(Buffer.from(item.messageText, 'base64').toString()) as unknown);
    assert.deepEqual(bodies, [{ first: true }, { second: true }]);
  });
});
