import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  allowedOriginFor,
  blobTriggerMessagesFrom,
  validationCodeFrom,
} from '../../devhost/eventgrid/blobEventNotification';

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
