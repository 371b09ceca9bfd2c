import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { AccessToken, TokenCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';

import { resolveConnection } from '../../devhost/config/connections';
import { StorageAccount } from '../../devhost/storage/account';
import { blobPropertiesFromHeaders } from '../../devhost/storage/restBlob';
import { StorageRestClient, StorageRestError } from '../../devhost/storage/restClient';
import { parseReceivedMessages, sendCreatingQueue } from '../../devhost/storage/restQueue';
import { uniqueName } from '../support/storage';

const connectionString = process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '';

function accountFor(env: NodeJS.ProcessEnv): StorageAccount {
  return new StorageAccount(resolveConnection('Storage', env, 'test'));
}

describe("devhost's storage REST client on Azurite (Shared Key, as the SDK signs)", () => {
  const account = accountFor({ AzureWebJobsStorage: connectionString });
  const queues = QueueServiceClient.fromConnectionString(connectionString);

  it('sends, receives, renews and deletes messages the SDK sees the same way', async () => {
    const name = uniqueName('rest');
    const queue = account.hostQueue(name);
    assert.equal(await queue.exists(), false);
    await queue.createIfNotExists();
    await queue.createIfNotExists(); // a second create is not an error
    assert.equal(await queue.exists(), true);
    // Characters XML and URLs care about, and text that is not ASCII, survive both ways.
    const text = `<a href="x?y=1&z='2'">ünïcødé ✓</a> &amp; %2F +`;
    await queue.sendMessage(text);
    const peeked = await queues.getQueueClient(name).peekMessages();
    assert.equal(peeked.peekedMessageItems[0]?.messageText, text, 'the SDK reads what the REST client wrote');

    const [received] = await queue.receiveMessages({ numberOfMessages: 5, visibilityTimeoutSeconds: 30 });
    assert.ok(received);
    assert.equal(received.messageText, text);
    assert.equal(received.dequeueCount, 1);
    assert.ok(received.insertedOn instanceof Date && received.expiresOn instanceof Date);
    assert.ok((received.nextVisibleOn?.getTime() ?? 0) > Date.now() + 20_000);

    const renewed = await queue.updateVisibility(received.messageId, received.popReceipt, 60);
    assert.notEqual(renewed, received.popReceipt, 'a renewal hands out a new pop receipt');
    await assert.rejects(queue.deleteMessage(received.messageId, received.popReceipt), (error: unknown) => {
      assert.ok(error instanceof StorageRestError);
      assert.equal(error.statusCode, 400, 'the old pop receipt no longer deletes');
      return true;
    });
    await queue.deleteMessage(received.messageId, renewed);
    const left = await queues.getQueueClient(name).getProperties();
    assert.equal(left.approximateMessagesCount, 0);
  });

  it('sends to a missing queue by creating it on the 404, as the host writes its queues; one request once it exists', async () => {
    const name = uniqueName('rest');
    const queue = account.hostQueue(name);
    const calls: string[] = [];
    const counted = {
      ...queue,
      name,
      sendMessage: (text: string) => (calls.push('send'), queue.sendMessage(text)),
      createIfNotExists: () => (calls.push('create'), queue.createIfNotExists()),
    } as typeof queue;
    await sendCreatingQueue(counted, 'first');
    assert.deepEqual(calls, ['send', 'create', 'send']);
    calls.length = 0;
    await sendCreatingQueue(counted, 'second');
    assert.deepEqual(calls, ['send']);
    const peeked = await queues.getQueueClient(name).peekMessages({ numberOfMessages: 5 });
    assert.deepEqual(
      peeked.peekedMessageItems.map((m) => m.messageText),
      ['first', 'second'],
    );
  });

  it('receives a message the SDK sent, with the SDK its dequeue count', async () => {
    const name = uniqueName('rest');
    const sdkQueue = queues.getQueueClient(name);
    await sdkQueue.create();
    await sdkQueue.sendMessage('from the SDK');
    const queue = account.hostQueue(name);
    const first = await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeoutSeconds: 1 });
    assert.equal(first[0]?.messageText, 'from the SDK');
    await queue.updateVisibility(first[0]?.messageId ?? '', first[0]?.popReceipt ?? '', 0);
    const again = await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeoutSeconds: 1 });
    assert.equal(again[0]?.dequeueCount, 2);
  });

  it('reads blob properties as the SDK returns them, and a missing blob is a 404', async () => {
    const blobs = BlobServiceClient.fromConnectionString(connectionString);
    const container = blobs.getContainerClient(uniqueName('rest'));
    await container.create();
    const name = 'a folder/ümlaut #1+2.png';
    await container.getBlockBlobClient(name).uploadData(Buffer.from('png bytes'), {
      blobHTTPHeaders: { blobContentType: 'image/png', blobCacheControl: 'no-cache' },
      metadata: { Owner: 'someone' },
    });
    const expected = await container.getBlobClient(name).getProperties();
    const read = await account.internalBlobProperties(container.containerName, name);
    assert.equal(read.etag, expected.etag);
    assert.equal(read.contentLength, expected.contentLength);
    assert.equal(read.contentType, 'image/png');
    assert.equal(read.cacheControl, 'no-cache');
    assert.equal(read.blobType, 'BlockBlob');
    assert.equal(read.lastModified?.getTime(), expected.lastModified?.getTime());
    assert.equal(read.createdOn?.getTime(), expected.createdOn?.getTime());
    assert.deepEqual(read.metadata, expected.metadata);
    assert.deepEqual(Buffer.from(read.contentMD5 ?? []), Buffer.from(expected.contentMD5 ?? []));
    await assert.rejects(account.internalBlobProperties(container.containerName, 'missing.png'), (error: unknown) => {
      assert.equal((error as StorageRestError).statusCode, 404);
      return true;
    });
  });

  it('reads the content of the version it names, byte for byte, signed with If-Match; another version is a 412', async () => {
    const blobs = BlobServiceClient.fromConnectionString(connectionString);
    const container = blobs.getContainerClient(uniqueName('rest'));
    await container.create();
    const name = 'photos/ümlaut #1+2.jpg';
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256)); // not valid UTF-8
    const blob = container.getBlockBlobClient(name);
    const { etag } = await blob.uploadData(bytes);
    assert.deepEqual(await account.internalBlobContent(container.containerName, name, etag), bytes);
    assert.deepEqual(await account.internalBlobContent(container.containerName, name), bytes);
    await blob.uploadData(Buffer.from('version 2'));
    await assert.rejects(account.internalBlobContent(container.containerName, name, etag), (error: unknown) => {
      assert.equal((error as StorageRestError).statusCode, 412);
      return true;
    });
  });
});

describe("devhost's storage REST client: retries, SAS and tokens (against a local server)", () => {
  const seen: http.IncomingMessage[] = [];
  let answers: number[] = [];
  let server: http.Server;
  let endpoint = '';

  before(async () => {
    server = http.createServer((request, response) => {
      seen.push(request);
      request.resume();
      const status = answers.shift() ?? 200;
      response.writeHead(status, status >= 400 ? { 'x-ms-error-code': `Code${status}` } : {});
      response.end(status >= 400 ? `<Error><Message>status ${status}</Message></Error>` : '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acct`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('retries a 503 and succeeds; never retries a 404, which keeps its status and error code', async () => {
    seen.length = 0;
    answers = [503, 200];
    const client = new StorageRestClient(endpoint, { kind: 'sas', query: 'sv=1&sig=abc' });
    const response = await client.send({ method: 'GET', path: '/q/messages' });
    assert.equal(response.status, 200);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]?.url, '/acct/q/messages?sv=1&sig=abc', 'the SAS rides on the query');

    seen.length = 0;
    answers = [404];
    await assert.rejects(client.send({ method: 'DELETE', path: '/q/messages/1' }), (error: unknown) => {
      assert.ok(error instanceof StorageRestError);
      assert.equal(error.statusCode, 404);
      assert.equal(error.code, 'Code404');
      assert.match(error.message, /status 404/);
      return true;
    });
    assert.equal(seen.length, 1);
  });

  it('asks the credential once for concurrent requests, and again only when the token nears expiry', async () => {
    seen.length = 0;
    answers = [];
    let calls = 0;
    let expiresOnTimestamp = Date.now() + 60 * 60_000;
    const credential: TokenCredential = {
      getToken: async (scope) => {
        calls++;
        assert.equal(scope, 'https://storage.azure.com/.default');
        await new Promise((resolve) => setImmediate(resolve));
        return { token: `token-${calls}`, expiresOnTimestamp } satisfies AccessToken;
      },
    };
    const client = new StorageRestClient(endpoint, { kind: 'bearer', credential });
    await Promise.all([1, 2, 3].map(() => client.send({ method: 'HEAD', path: '/c/b' })));
    assert.equal(calls, 1);
    assert.deepEqual(
      seen.map((r) => r.headers.authorization),
      ['Bearer token-1', 'Bearer token-1', 'Bearer token-1'],
    );
    // The next token is fetched once the current one is within two minutes of expiring.
    expiresOnTimestamp = Date.now() + 60 * 60_000;
    const nearExpiry = new StorageRestClient(endpoint, {
      kind: 'bearer',
      credential: {
        getToken: () => {
          calls++;
          return Promise.resolve({ token: `short-${calls}`, expiresOnTimestamp: Date.now() + 60_000 });
        },
      },
    });
    await nearExpiry.send({ method: 'HEAD', path: '/c/b' });
    await nearExpiry.send({ method: 'HEAD', path: '/c/b' });
    assert.equal(calls, 3, 'a token a minute from expiry is replaced before the next request');
  });

  it('stops at once when aborted, with a transient error (no status)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = new StorageRestClient(`http://127.0.0.1:${port}/acct`, { kind: 'sas', query: 'sig=x' });
    const controller = new AbortController();
    const pending = client.send({ method: 'GET', path: '/q', abortSignal: controller.signal });
    controller.abort();
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof StorageRestError);
      assert.equal(error.statusCode, undefined);
      return true;
    });
  });
});

describe("devhost's storage REST client: response parsing", () => {
  it('reads Get Messages XML, entities and empty text included', () => {
    const xml =
      '<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage><MessageId>id-1</MessageId>' +
      '<InsertionTime>Fri, 09 Oct 2009 21:04:30 GMT</InsertionTime><ExpirationTime>Fri, 16 Oct 2009 21:04:30 GMT</ExpirationTime>' +
      '<PopReceipt>AgAAAAMAAAAAAAAA+/=</PopReceipt><TimeNextVisible>Fri, 09 Oct 2009 23:29:20 GMT</TimeNextVisible>' +
      '<DequeueCount>3</DequeueCount><MessageText>&lt;x&gt; &amp;amp; &#x41;&#66; &quot;q&apos;</MessageText></QueueMessage>' +
      '<QueueMessage><MessageId>id-2</MessageId><PopReceipt>p</PopReceipt><DequeueCount>1</DequeueCount><MessageText /></QueueMessage>' +
      '</QueueMessagesList>';
    const [first, second] = parseReceivedMessages(xml);
    assert.equal(first?.messageId, 'id-1');
    assert.equal(first?.popReceipt, 'AgAAAAMAAAAAAAAA+/=');
    assert.equal(first?.dequeueCount, 3);
    assert.equal(first?.messageText, '<x> &amp; AB "q\'');
    assert.equal(first?.insertedOn?.toISOString(), '2009-10-09T21:04:30.000Z');
    assert.equal(second?.messageText, '');
    assert.deepEqual(parseReceivedMessages('<QueueMessagesList />'), []);
  });

  it('shapes blob properties from headers, metadata keys in lower case as the SDK gives them', () => {
    const properties = blobPropertiesFromHeaders({
      'x-ms-blob-type': 'AppendBlob',
      'content-length': '12',
      'x-ms-meta-owner': 'a',
      'x-ms-meta-reason': 'b',
      etag: '"0x1"',
    });
    assert.equal(properties.blobType, 'AppendBlob');
    assert.equal(properties.contentLength, 12);
    assert.equal(properties.etag, '"0x1"');
    assert.deepEqual(properties.metadata, { owner: 'a', reason: 'b' });
    assert.equal(properties.lastModified, undefined);
  });
});
