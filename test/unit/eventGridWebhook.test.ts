import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  blobTriggerFunctionIdOf,
  type BlobTriggerMessage,
  InvalidBlobTriggerMessageError,
  runnableBlobTriggerMessage,
} from '../../devhost/blob/blobTriggerQueue';
import {
  allowedOriginFor,
  blobTriggerMessagesFrom,
  validationCodeFrom,
} from '../../devhost/eventgrid/blobEventNotification';
import { behindFront, commitOf } from '../../devhost/eventgrid/blobFront';
import { createBlobsWebhook } from '../../devhost/eventgrid/blobsWebhook';
import {
  MANAGED_IDENTITY_TENANT_SETTING,
  startManagedIdentityEndpoint,
} from '../../devhost/identity/managedIdentityEndpoint';
import { HostLogger } from '../../devhost/log';

const event = (data: Record<string, unknown>) => ({
  id: '1',
  eventType: 'Microsoft.Storage.BlobCreated',
  subject: '/blobServices/default/containers/uploads/blobs/a.png',
  data,
});

describe('blobs extension webhook: deliveries', () => {
  it('maps each event of a batch to a trigger message by data.url, data.eTag and data.blobType only', () => {
    const parsed = blobTriggerMessagesFrom(
      [
        event({
          url: 'https://acct.blob.core.windows.net/uploads/dir/a%20b.png',
          eTag: '0x8D1',
          blobType: 'BlockBlob',
        }),
        {
          ...event({
            url: 'http://127.0.0.1:10000/devstoreaccount1/uploads/c.png',
            eTag: '"0x8D2"',
            blobType: 'PageBlob',
          }),
          eventType: 'Microsoft.Storage.BlobDeleted',
        },
      ],
      'Host.Functions.thumbnail',
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.messages, [
      {
        Type: 'BlobTrigger',
        FunctionId: 'Host.Functions.thumbnail',
        BlobType: 'BlockBlob',
        ContainerName: 'uploads',
        BlobName: 'dir/a b.png',
        ETag: '"0x8D1"',
      },
      {
        Type: 'BlobTrigger',
        FunctionId: 'Host.Functions.thumbnail',
        BlobType: 'PageBlob',
        ContainerName: 'uploads',
        BlobName: 'c.png',
        ETag: '"0x8D2"',
      },
    ]);
  });

  it('takes a single CloudEvent as a batch of one', () => {
    const parsed = blobTriggerMessagesFrom(
      {
        specversion: '1.0',
        type: 'Microsoft.Storage.BlobCreated',
        source: '/x',
        id: '1',
        data: { url: 'https://a.blob.core.windows.net/c/b', eTag: 'e', blobType: 'AppendBlob' },
      },
      'Host.Functions.f',
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.messages[0]?.BlobType, 'AppendBlob');
  });

  it('names the field at fault and queues nothing from a bad batch', () => {
    const good = event({ url: 'https://a.blob.core.windows.net/c/b', eTag: 'e', blobType: 'BlockBlob' });
    const cases: [unknown, string][] = [
      [[good, event({ eTag: 'e', blobType: 'BlockBlob' })], '[1].data.url'],
      [[event({ url: 'https://a.blob.core.windows.net/c', eTag: 'e', blobType: 'BlockBlob' })], '[0].data.url'],
      [[event({ url: 'https://a.blob.core.windows.net/c/b', blobType: 'BlockBlob' })], '[0].data.eTag'],
      [[event({ url: 'https://a.blob.core.windows.net/c/b', eTag: 'e' })], '[0].data.blobType'],
      [[{ id: 1 }], '[0].data'],
      [42, 'body'],
    ];
    for (const [body, field] of cases) {
      const parsed = blobTriggerMessagesFrom(body, 'f');
      assert.equal(parsed.ok, false);
      assert.equal(parsed.ok ? '' : parsed.problem.field, field);
    }
  });
});

describe('blobs extension webhook: handshakes', () => {
  it('reads the validation code from the Event Grid schema and from a CloudEvent with string data', () => {
    assert.equal(validationCodeFrom([{ data: { validationCode: 'abc' } }]), 'abc');
    assert.equal(validationCodeFrom({ data: JSON.stringify({ validationCode: 'def' }) }), 'def');
    assert.equal(validationCodeFrom([{ data: {} }]), undefined);
  });

  it('answers the CloudEvents abuse-protection origin, defaulting to the public cloud', () => {
    assert.equal(allowedOriginFor('eventgrid.azure.us'), 'eventgrid.azure.us');
    assert.equal(allowedOriginFor('evil.example'), 'eventgrid.azure.net');
    assert.equal(allowedOriginFor(undefined), 'eventgrid.azure.net');
  });
});

describe('blob front: which requests raise BlobCreated', () => {
  const url = (path: string) => new URL(`http://127.0.0.1:10000/devstoreaccount1/uploads/${path}`);
  const etag = { etag: '"0x1"' };

  it('sees Put Blob, Put Block List and Copy Blob, with the ETag storage answered', () => {
    const put = commitOf('PUT', url('a%20b.png'), { 'x-ms-blob-type': 'BlockBlob', 'content-length': '7' }, 201, etag);
    assert.deepEqual(
      { api: put?.api, blob: put?.blobName, container: put?.container, account: put?.accountName, etag: put?.etag },
      { api: 'PutBlob', blob: 'a b.png', container: 'uploads', account: 'devstoreaccount1', etag: '"0x1"' },
    );
    assert.equal(put?.contentLength, 7);
    assert.equal(commitOf('PUT', url('b?comp=blocklist'), {}, 201, etag)?.api, 'PutBlockList');
    assert.equal(commitOf('PUT', url('c'), { 'x-ms-copy-source': 'http://x/y' }, 202, etag)?.api, 'CopyBlob');
  });

  it('ignores staging blocks, metadata, reads and failures', () => {
    assert.equal(commitOf('PUT', url('b?comp=block&blockid=YQ=='), {}, 201, etag), undefined);
    assert.equal(commitOf('PUT', url('b?comp=metadata'), {}, 200, etag), undefined);
    assert.equal(commitOf('GET', url('b'), {}, 200, etag), undefined);
    assert.equal(commitOf('PUT', url('b'), { 'x-ms-blob-type': 'BlockBlob' }, 403, {}), undefined);
  });
});

describe('blob front: devhost’s own requests skip it', () => {
  const front = { port: 10000, upstream: 'http://127.0.0.1:41234' };

  it('maps an endpoint on the front to the same path upstream', () => {
    assert.equal(
      behindFront('http://127.0.0.1:10000/devstoreaccount1', front),
      'http://127.0.0.1:41234/devstoreaccount1',
    );
    assert.equal(
      behindFront('http://localhost:10000/devstoreaccount1/', front),
      'http://127.0.0.1:41234/devstoreaccount1',
    );
    assert.equal(behindFront('http://127.0.0.1:10000', front), 'http://127.0.0.1:41234');
  });

  it('leaves any other endpoint alone', () => {
    assert.equal(behindFront('http://127.0.0.1:10001/devstoreaccount1', front), undefined);
    assert.equal(behindFront('https://acct.blob.core.windows.net', front), undefined);
    assert.equal(behindFront('http://10.0.0.5:10000/devstoreaccount1', front), undefined);
    assert.equal(behindFront('not a url', front), undefined);
  });
});

describe('managed identity endpoint', () => {
  it('answers only with the identity header and api-version 2019-08-01, with tokens Azurite accepts', async () => {
    const env: NodeJS.ProcessEnv = { [MANAGED_IDENTITY_TENANT_SETTING]: 'tenant-1' };
    const endpoint = await startManagedIdentityEndpoint(env, new HostLogger('error'));
    try {
      const ask = (query: string, headers: Record<string, string> = { 'X-IDENTITY-HEADER': endpoint.header }) =>
        fetch(`${endpoint.endpoint}?${query}`, { headers });
      assert.equal((await ask('resource=https://storage.azure.com&api-version=2019-08-01', {})).status, 401);
      assert.equal(
        (await ask('resource=https://storage.azure.com&api-version=2019-08-01', { 'X-IDENTITY-HEADER': 'guess' }))
          .status,
        401,
      );
      assert.equal((await ask('resource=https://storage.azure.com&api-version=2017-09-01')).status, 400);
      assert.equal((await ask('api-version=2019-08-01')).status, 400);
      const ok = await ask('resource=https://storage.azure.com&api-version=2019-08-01');
      assert.equal(ok.status, 200);
      const body = (await ok.json()) as Record<string, string>;
      assert.equal(body['token_type'], 'Bearer');
      assert.equal(body['resource'], 'https://storage.azure.com');
      const nowSeconds = Date.now() / 1000;
      assert.ok(Number(body['expires_on']) > nowSeconds + 600, 'expires_on in epoch seconds, in the future');
      const [, payload] = (body['access_token'] ?? '').split('.');
      const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.equal(claims['iss'], 'https://sts.windows.net/tenant-1/');
      assert.equal(claims['aud'], 'https://storage.azure.com');
      assert.equal(claims['tid'], 'tenant-1');
      assert.match(String(claims['oid']), /^[0-9a-f-]{36}$/);
      assert.ok(Number(claims['nbf']) <= nowSeconds && Number(claims['exp']) > nowSeconds);
      const user = (await (
        await ask('resource=https://storage.azure.com&api-version=2019-08-01&client_id=abc')
      ).json()) as Record<string, string>;
      assert.equal(user['client_id'], 'abc');
      const userClaims = JSON.parse(
        Buffer.from((user['access_token'] ?? '').split('.')[1] ?? '', 'base64url').toString('utf8'),
      ) as Record<string, unknown>;
      assert.notEqual(userClaims['oid'], claims['oid'], 'a user-assigned identity is another principal');
    } finally {
      await endpoint.close();
    }
  });
});

describe('blobs extension webhook: a delivery without functionName', () => {
  function webhookWithFakeQueue() {
    const queued: BlobTriggerMessage[] = [];
    const lines: string[] = [];
    const webhook = createBlobsWebhook({
      queue: { enqueue: (message) => Promise.resolve(void queued.push(message)) },
      resolveFunctionId: (name) => (name === 'Host.Functions.onEvent' ? name : undefined),
      logger: new HostLogger('information', { write: (line) => void lines.push(line) }),
    });
    return { webhook, queued, lines };
  }
  const delivery = (query: string) => ({
    method: 'POST',
    url: new URL(`http://localhost/runtime/webhooks/blobs${query}`),
    headers: { 'aeg-event-type': 'Notification' },
    body: Buffer.from(
      JSON.stringify([event({ url: 'https://a.blob.core.windows.net/c/b.png', eTag: '0x1', blobType: 'BlockBlob' })]),
    ),
  });

  it('answers 202 and queues the message with a null FunctionId, as the extension stores functionName verbatim', async () => {
    const { webhook, queued, lines } = webhookWithFakeQueue();
    const response = await webhook(delivery(''));
    assert.equal(response.status, 202);
    assert.equal(response.body, undefined);
    assert.deepEqual(queued, [
      {
        Type: 'BlobTrigger',
        FunctionId: null,
        BlobType: 'BlockBlob',
        ContainerName: 'c',
        BlobName: 'b.png',
        ETag: '"0x1"',
      },
    ]);
    assert.match(JSON.stringify(queued[0]), /"FunctionId":null/);
    assert.equal(lines.filter((line) => /without a functionName .*'Invalid function ID\.'/.test(line)).length, 1);
  });

  it('still queues a named function under its id', async () => {
    const { webhook, queued } = webhookWithFakeQueue();
    assert.equal((await webhook(delivery('?functionName=Host.Functions.onEvent'))).status, 202);
    assert.equal(queued[0]?.FunctionId, 'Host.Functions.onEvent');
  });
});

describe('blob trigger queue messages, read as BlobQueueTriggerExecutor reads them', () => {
  const invalid = (text: string | undefined, message: string) =>
    assert.throws(
      () => blobTriggerFunctionIdOf(text),
      (error: unknown) =>
        error instanceof InvalidBlobTriggerMessageError &&
        error.code === 'BLOB_TRIGGER_MESSAGE_INVALID' &&
        error.message === message,
    );

  it('fails a message that is no JSON object with "Invalid blob trigger message."', () => {
    for (const text of ['not json', '', 'null', '[1]', '42', undefined]) invalid(text, 'Invalid blob trigger message.');
  });

  it('fails a message without a FunctionId with "Invalid function ID."', () => {
    invalid('{"Type":"BlobTrigger","ContainerName":"c","BlobName":"b"}', 'Invalid function ID.');
    invalid('{"FunctionId":null,"ContainerName":"c","BlobName":"b"}', 'Invalid function ID.');
  });

  it('returns the function id first (an unknown one is skipped), then requires the blob fields to run it', () => {
    const { functionId, message } = blobTriggerFunctionIdOf(
      '{"Type":"BlobTrigger","FunctionId":"Host.Functions.f","BlobType":"AppendBlob","ContainerName":"c","BlobName":"d/b","ETag":"\\"0x1\\""}',
    );
    assert.equal(functionId, 'Host.Functions.f');
    assert.deepEqual(runnableBlobTriggerMessage(functionId, message), {
      Type: 'BlobTrigger',
      FunctionId: 'Host.Functions.f',
      BlobType: 'AppendBlob',
      ContainerName: 'c',
      BlobName: 'd/b',
      ETag: '"0x1"',
    });
    assert.equal(blobTriggerFunctionIdOf('{"FunctionId":""}').functionId, '');
    assert.throws(
      () => runnableBlobTriggerMessage('Host.Functions.f', { FunctionId: 'Host.Functions.f', ContainerName: 'c' }),
      InvalidBlobTriggerMessageError,
    );
  });
});
