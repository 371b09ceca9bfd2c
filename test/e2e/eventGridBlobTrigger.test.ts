import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { DevhostProcess } from '../support/devhostProcess';
import { freePort } from '../support/freePort';
import { useOwnAzurite } from '../support/ownAzurite';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

// These tests read webjobs-blobtrigger-poison, one queue per account: they get an account to themselves.
useOwnAzurite();

const APP = 'test/apps/eventgrid-app';
const MASTER_KEY = 'eventgrid-test-master-key';
const SYSTEM_KEY = 'eventgrid-test-blobs-extension-key';
const FUNCTION_KEY = 'eventgrid-test-function-key';

interface Ran {
  name: string;
  blobTrigger: string;
  uri: string;
  etag: string;
  length: number;
  metadata: Record<string, string>;
  text: string;
}

function runs(host: DevhostProcess): Ran[] {
  return host.lines(/EVENT /).map((line) => JSON.parse(line.slice(line.indexOf('EVENT ') + 6)) as Ran);
}

async function newContainer(): Promise<{ container: ContainerClient; env: Record<string, string> }> {
  const container = storageClients().blobs.getContainerClient(uniqueName('eg-'));
  await container.create();
  return {
    container,
    env: { IN_CONTAINER: container.containerName, AzureFunctionsWebHost__hostid: uniqueName('host-') },
  };
}

/** The blob's Event Grid `BlobCreated` event, as a storage system topic delivers it. */
async function blobCreated(container: ContainerClient, name: string): Promise<Record<string, unknown>> {
  const blob = container.getBlobClient(name);
  const properties = await blob.getProperties();
  return {
    topic: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
    subject: `/blobServices/default/containers/${container.containerName}/blobs/${name}`,
    eventType: 'Microsoft.Storage.BlobCreated',
    id: uniqueName('ev'),
    eventTime: new Date().toISOString(),
    data: {
      api: 'PutBlob',
      eTag: (properties.etag ?? '').replace(/"/g, ''),
      contentType: properties.contentType,
      contentLength: properties.contentLength,
      blobType: 'BlockBlob',
      url: blob.url,
    },
    dataVersion: '',
    metadataVersion: '1',
  };
}

/** A pattern matching `text` literally at the end of a log line. */
function literal(text: string): RegExp {
  return new RegExp(`${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** Every body on the host's blob poison queue (shared by the run's tests), decoded from base64. */
async function poisonBodies(): Promise<string[]> {
  const poison = storageClients().queues.getQueueClient('webjobs-blobtrigger-poison');
  if (!(await poison.exists())) return [];
  const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((item) => Buffer.from(item.messageText, 'base64').toString('utf8'));
}

async function post(
  host: DevhostProcess,
  body: unknown,
  headers: Record<string, string>,
  query = 'functionName=Host.Functions.onEvent',
): Promise<Response> {
  return fetch(host.url(`/runtime/webhooks/blobs?${query}`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('Event Grid-source blob trigger: devhost as the local event source', () => {
  let setup: Awaited<ReturnType<typeof newContainer>>;
  let host: DevhostProcess;

  before(async () => {
    setup = await newContainer();
    await setup.container.getBlockBlobClient('history.txt').upload('old', 3);
    host = await DevhostProcess.start({ app: APP, env: setup.env });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('raises BlobCreated for a new blob and runs the function with the polling trigger metadata', async () => {
    await setup.container.getBlockBlobClient('new.txt').upload('fresh', 5, { metadata: { origin: 'test' } });
    const ran = await waitFor('the event-driven run', () => runs(host).find((r) => r.name === 'new.txt'));
    const etag = (await setup.container.getBlobClient('new.txt').getProperties()).etag;
    assert.equal(ran.blobTrigger, `${setup.container.containerName}/new.txt`);
    assert.ok(ran.uri.endsWith(`/${setup.container.containerName}/new.txt`));
    assert.equal(ran.etag, etag);
    assert.equal(ran.length, 5);
    assert.deepEqual(ran.metadata, { origin: 'test' });
    assert.equal(ran.text, 'fresh');
    assert.ok(host.lines(/registered http endpoint = http:\/\/localhost:\d+\/runtime\/webhooks\/blobs$/).length > 0);
  });

  it('raises no event for blobs that were there before the host started (Event Grid has no history)', async () => {
    await setup.container.getBlockBlobClient('marker.txt').upload('m', 1);
    await waitFor('a later blob', () => runs(host).find((r) => r.name === 'marker.txt'));
    assert.equal(runs(host).filter((r) => r.name === 'history.txt').length, 0);
  });

  it('retries a failing blob poisonBlobThreshold times, then puts the message on webjobs-blobtrigger-poison', async () => {
    const poison = storageClients().queues.getQueueClient('webjobs-blobtrigger-poison');
    await setup.container.getBlockBlobClient('fail-me.txt').upload('bad', 3);
    const message = await waitFor('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
      return peekedMessageItems
        .map((item) => JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as Record<string, string>)
        .find((body) => body['ContainerName'] === setup.container.containerName && body['BlobName'] === 'fail-me.txt');
    });
    assert.equal(message['FunctionId'], 'Host.Functions.onEvent');
    assert.equal(runs(host).filter((r) => r.name === 'fail-me.txt').length, 2, 'poisonBlobThreshold is 2');
  });
});

describe('Event Grid-source blob trigger: writes made while devhost is stopped', () => {
  it('raises their events at the next start, as Event Grid keeps retrying delivery; older blobs stay history', async () => {
    const setup = await newContainer();
    await setup.container.getBlockBlobClient('history.txt').upload('old', 3);
    const first = await DevhostProcess.start({ app: APP, env: setup.env });
    await setup.container.getBlockBlobClient('seen.txt').upload('s', 1);
    await waitFor('the first run', () => runs(first).find((r) => r.name === 'seen.txt'));
    assert.equal(await first.stop(), 0);
    await setup.container.getBlockBlobClient('while-down.txt').upload('d', 1);
    const second = await DevhostProcess.start({ app: APP, env: setup.env });
    try {
      await waitFor('the event of the blob written while stopped', () =>
        runs(second).find((r) => r.name === 'while-down.txt'),
      );
      assert.equal(runs(second).filter((r) => r.name === 'seen.txt').length, 0, 'a delivered blob is not raised again');
      assert.equal(runs(second).filter((r) => r.name === 'history.txt').length, 0, 'older than the subscription');
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });
});

describe('Event Grid-source blob trigger: a write right after the first start', () => {
  it('is raised after a kill -9 that came before any scan saw it (it is not history at the next start)', async () => {
    const setup = await newContainer();
    // A fresh host id: this start records the subscription's start. The scan would first look after 60 s.
    const env = { ...setup.env, DEVHOST_EVENTGRID_SCAN_SECONDS: '60' };
    const first = await DevhostProcess.start({ app: APP, env });
    await setup.container.getBlockBlobClient('just-after.txt').upload('j', 1);
    await first.kill();
    assert.equal(runs(first).filter((r) => r.name === 'just-after.txt').length, 0, 'the first host never saw it');
    const second = await DevhostProcess.start({ app: APP, env: { ...env, DEVHOST_EVENTGRID_SCAN_SECONDS: '1' } });
    try {
      await waitFor('the event of the blob written just after the first start', () =>
        runs(second).find((r) => r.name === 'just-after.txt'),
      );
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });
});

describe('Event Grid-source blob trigger: the blobs extension webhook', () => {
  let setup: Awaited<ReturnType<typeof newContainer>>;
  let host: DevhostProcess;
  const systemKey = { 'x-functions-key': SYSTEM_KEY };

  before(async () => {
    setup = await newContainer();
    host = await DevhostProcess.start({
      app: APP,
      // No local event source: every run below comes from a delivery posted to the webhook.
      env: {
        ...setup.env,
        DEVHOST_EVENTGRID_SCAN_SECONDS: '0',
        DEVHOST_MASTER_KEY: MASTER_KEY,
        DEVHOST_FUNCTION_KEY: FUNCTION_KEY,
        DEVHOST_BLOBS_EXTENSION_KEY: SYSTEM_KEY,
      },
      args: ['--enforce-keys'],
    });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('accepts the blobs_extension system key or the master key, nothing else', async () => {
    await setup.container.getBlockBlobClient('auth.txt').upload('a', 1);
    const event = [await blobCreated(setup.container, 'auth.txt')];
    const notification = { 'aeg-event-type': 'Notification' };
    assert.equal((await post(host, event, notification)).status, 401);
    assert.equal((await post(host, event, { ...notification, 'x-functions-key': FUNCTION_KEY })).status, 401);
    assert.equal(
      (await post(host, event, notification, `functionName=Host.Functions.onEvent&code=${MASTER_KEY}`)).status,
      202,
    );
    assert.equal((await post(host, event, { ...notification, ...systemKey })).status, 202);
    await waitFor('two runs', () => runs(host).filter((r) => r.name === 'auth.txt').length >= 2 || undefined);
    assert.equal(runs(host).filter((r) => r.name === 'auth.txt').length, 2, 'no receipts: each delivery runs');
  });

  it('answers the SubscriptionValidation handshake and the CloudEvents OPTIONS handshake', async () => {
    const validation = await post(
      host,
      [{ id: '1', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'code-123' } }],
      { 'aeg-event-type': 'SubscriptionValidation', ...systemKey },
    );
    assert.equal(validation.status, 200);
    assert.deepEqual(await validation.json(), { validationResponse: 'code-123' });
    const options = await fetch(host.url('/runtime/webhooks/blobs?functionName=Host.Functions.onEvent'), {
      method: 'OPTIONS',
      headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net', ...systemKey },
    });
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('webhook-allowed-origin'), 'eventgrid.azure.net');
    const unsubscribe = await post(host, [], { 'aeg-event-type': 'Unsubscribe', ...systemKey });
    assert.equal(unsubscribe.status, 202);
  });

  it('queues every event of an Event Grid batch and a single CloudEvent, each running once', async () => {
    for (const name of ['batch-1.txt', 'batch-2.txt', 'cloud.txt']) {
      await setup.container.getBlockBlobClient(name).upload(name, name.length);
    }
    const batch = [
      await blobCreated(setup.container, 'batch-1.txt'),
      await blobCreated(setup.container, 'batch-2.txt'),
    ];
    const accepted = await post(host, batch, { 'aeg-event-type': 'Notification', ...systemKey });
    assert.equal(accepted.status, 202);
    assert.equal(await accepted.text(), '');
    const legacy = await blobCreated(setup.container, 'cloud.txt');
    const cloudEvent = {
      specversion: '1.0',
      type: 'Microsoft.Storage.BlobCreated',
      source: legacy['topic'],
      subject: legacy['subject'],
      id: 'ce-1',
      time: new Date().toISOString(),
      data: legacy['data'],
    };
    const single = await post(
      host,
      cloudEvent,
      { 'aeg-event-type': 'Notification', ...systemKey },
      'functionName=Functions.onEvent',
    );
    assert.equal(single.status, 202);
    for (const name of ['batch-1.txt', 'batch-2.txt', 'cloud.txt']) {
      await waitFor(name, () => runs(host).find((r) => r.name === name));
    }
  });

  it('sends the event for an existing blob by hand (admin), looking up its URL and ETag', async () => {
    await setup.container.getBlockBlobClient('by-hand.txt').upload('hand', 4);
    const ask = (body: unknown, headers: Record<string, string> = { 'x-functions-key': MASTER_KEY }) =>
      fetch(host.url('/admin/eventgrid/blobcreated'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const refused = await ask({ container: setup.container.containerName, name: 'by-hand.txt' }, {});
    assert.equal(refused.status, 401);
    const sent = await ask({ container: setup.container.containerName, name: 'by-hand.txt' });
    assert.equal(sent.status, 202);
    const answer = (await sent.json()) as { functions: string[]; eTag: string };
    assert.deepEqual(answer.functions, ['onEvent']);
    const ran = await waitFor('the run by hand', () => runs(host).find((r) => r.name === 'by-hand.txt'));
    assert.equal(ran.etag, answer.eTag);
    assert.equal((await ask({ container: setup.container.containerName, name: 'missing.txt' })).status, 404);
    assert.equal((await ask({ container: 'not-watched', name: 'x' })).status, 404);
    const bad = await ask({ container: setup.container.containerName });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { field?: string }).field, 'name');
  });

  it('refuses a delivery it cannot read with a problem naming the field', async () => {
    const cases: [unknown, Record<string, string>, string, string?][] = [
      [
        [{ data: { url: 'https://a.blob.core.windows.net/c/b', eTag: 'e' } }],
        { 'aeg-event-type': 'Notification' },
        '[0].data.blobType',
      ],
      ['{not json', { 'aeg-event-type': 'Notification' }, 'body'],
      [[], {}, 'aeg-event-type'],
    ];
    for (const [body, headers, field, query] of cases) {
      const response = await post(host, body, { ...headers, ...systemKey }, query);
      assert.equal(response.status, 400, field);
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
      assert.equal(((await response.json()) as { field?: string }).field, field);
    }
  });
  it('queues a delivery without functionName (202) with a null FunctionId, which fails into the poison queue', async () => {
    await setup.container.getBlockBlobClient('no-function.txt').upload('n', 1);
    const event = [await blobCreated(setup.container, 'no-function.txt')];
    const accepted = await post(host, event, { 'aeg-event-type': 'Notification', ...systemKey }, 'x=1');
    assert.equal(accepted.status, 202);
    assert.equal(await accepted.text(), '');
    const poisoned = await waitFor('the delivery on webjobs-blobtrigger-poison', async () =>
      (await poisonBodies()).find((body) => body.includes(`"BlobName": "no-function.txt"`)),
    );
    const message = JSON.parse(poisoned) as Record<string, unknown>;
    assert.equal(message['FunctionId'], null);
    assert.equal(message['ContainerName'], setup.container.containerName);
    // The host's console lines are written asynchronously (queued, as the host's console logger queues them): the
    // message can reach the poison queue before the line of its last attempt is out.
    await waitFor('both attempts in the log', () =>
      Promise.resolve(host.lines(/failed: Invalid function ID\.$/).length >= 2 ? true : undefined),
    );
    assert.equal(runs(host).filter((r) => r.name === 'no-function.txt').length, 0);
  });
});

describe('Event Grid-source blob trigger: messages the blob trigger queue cannot read', () => {
  let setup: Awaited<ReturnType<typeof newContainer>>;
  let host: DevhostProcess;

  before(async () => {
    setup = await newContainer();
    host = await DevhostProcess.start({ app: APP, env: { ...setup.env, DEVHOST_EVENTGRID_SCAN_SECONDS: '0' } });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('retries them poisonBlobThreshold times, then moves them to webjobs-blobtrigger-poison with the body intact', async () => {
    const internal = storageClients().queues.getQueueClient(
      `azure-webjobs-blobtrigger-${setup.env['AzureFunctionsWebHost__hostid'] ?? ''}`,
    );
    await internal.createIfNotExists();
    const marker = uniqueName('bad-');
    const notJson = `not json ${marker}`;
    const noFunctionId = JSON.stringify({ Type: 'BlobTrigger', ContainerName: 'c', BlobName: marker, ETag: '"0x1"' });
    const sent = await Promise.all(
      [notJson, noFunctionId].map((text) => internal.sendMessage(Buffer.from(text, 'utf8').toString('base64'))),
    );
    const poisoned = await waitFor('both messages on webjobs-blobtrigger-poison', async () => {
      const bodies = (await poisonBodies()).filter((body) => body.includes(marker));
      return bodies.length === 2 ? bodies : undefined;
    });
    assert.deepEqual(poisoned.sort(), [notJson, noFunctionId].sort(), 'bodies copied exactly');
    const reasons = ['Invalid blob trigger message.', 'Invalid function ID.'];
    for (const [index, { messageId }] of sent.entries()) {
      const reason = reasons[index] ?? '';
      assert.equal(host.lines(literal(`Processing message ${messageId} failed: ${reason}`)).length, 2, reason);
    }
    assert.ok(
      host.lines(
        literal("Message has reached MaxDequeueCount of 2. Moving message to queue 'webjobs-blobtrigger-poison'."),
      ).length >= 2,
    );
    assert.equal(host.lines(/discarded/).length, 0);
    assert.equal((await internal.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length, 0);
  });
});

describe('Event Grid-source blob trigger: the blob front', () => {
  let setup: Awaited<ReturnType<typeof newContainer>>;
  let host: DevhostProcess;
  let viaFront: ContainerClient;

  before(async () => {
    setup = await newContainer();
    const connectionString = process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '';
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(connectionString)?.[1] ?? '';
    const port = await freePort();
    const frontConnection = connectionString.replace(
      blobEndpoint,
      `http://127.0.0.1:${port}${new URL(blobEndpoint).pathname}`,
    );
    host = await DevhostProcess.start({
      app: APP,
      env: {
        ...setup.env,
        AzureWebJobsStorage: frontConnection,
        DEVHOST_BLOB_FRONT_PORT: String(port),
        DEVHOST_BLOB_FRONT_UPSTREAM: new URL(blobEndpoint).origin,
        // No scan: every run below comes from a commit the front saw.
        DEVHOST_EVENTGRID_SCAN_SECONDS: '0',
      },
    });
    viaFront = storageClients(frontConnection).blobs.getContainerClient(setup.container.containerName);
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('raises BlobCreated for Put Blob, Put Block List and Copy Blob through it, and for nothing else', async () => {
    await viaFront.getBlockBlobClient('put.txt').upload('put', 3);
    const blocks = viaFront.getBlockBlobClient('blocks.txt');
    const ids = ['YQ==', 'Yg=='];
    await blocks.stageBlock(ids[0] ?? '', 'first ', 6);
    await blocks.stageBlock(ids[1] ?? '', 'second', 6);
    await blocks.commitBlockList(ids);
    await viaFront.getBlockBlobClient('copy.txt').syncCopyFromURL(viaFront.getBlobClient('put.txt').url);
    for (const name of ['put.txt', 'blocks.txt', 'copy.txt']) {
      await waitFor(name, () => runs(host).find((r) => r.name === name));
    }
    assert.equal(runs(host).find((r) => r.name === 'blocks.txt')?.text, 'first second');
    // Metadata changes and writes around the front raise nothing (and the scan is off).
    await viaFront.getBlobClient('put.txt').setMetadata({ touched: 'yes' });
    await setup.container.getBlockBlobClient('around.txt').upload('around', 6);
    await viaFront.getBlockBlobClient('sentinel.txt').upload('s', 1);
    await waitFor('the sentinel', () => runs(host).find((r) => r.name === 'sentinel.txt'));
    assert.equal(runs(host).filter((r) => r.name === 'put.txt').length, 1, 'metadata raises no BlobCreated');
    assert.equal(runs(host).filter((r) => r.name === 'around.txt').length, 0);
    assert.equal(runs(host).filter((r) => r.name === 'blocks.txt').length, 1, 'staging blocks raises nothing');
  });
});
