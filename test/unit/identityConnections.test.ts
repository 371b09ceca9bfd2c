import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

import { resolveConnection } from '../../devhost/config/connections';
import { storageCredential as devhostCredential } from '../../devhost/identity/storageCredential';
import { parseAppConfig } from '../../shared/config/appConfig';
import { parseStorageConnection } from '../../shared/storage/storageConnection';
import { storageCredential } from '../../shared/storage/storageCredential';

describe('identity-based storage connections (app)', () => {
  it('infers the three service URIs from AzureWebJobsStorage__accountName', () => {
    const parsed = parseStorageConnection('AzureWebJobsStorage', {
      AzureWebJobsStorage__accountName: 'jobsacct',
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: '1111',
    });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.connection, {
      kind: 'identity',
      blobServiceUri: 'https://jobsacct.blob.core.windows.net',
      queueServiceUri: 'https://jobsacct.queue.core.windows.net',
      tableServiceUri: 'https://jobsacct.table.core.windows.net',
      identity: { credential: 'managedidentity', clientId: '1111' },
    });
  });

  it('takes explicit service URIs over the account name, __serviceUri as the blob one, names case-insensitively', () => {
    const parsed = parseStorageConnection('AzureWebJobsStorage', {
      azurewebjobsstorage__SERVICEURI: 'https://127.0.0.1:10000/devstoreaccount1/',
      AzureWebJobsStorage__queueServiceUri: 'https://127.0.0.1:10001/devstoreaccount1',
      AzureWebJobsStorage__accountName: 'ignoredforexplicit',
    });
    assert.ok(parsed.ok);
    assert.equal(parsed.connection.kind, 'identity');
    if (parsed.connection.kind !== 'identity') return;
    assert.equal(parsed.connection.blobServiceUri, 'https://127.0.0.1:10000/devstoreaccount1');
    assert.equal(parsed.connection.queueServiceUri, 'https://127.0.0.1:10001/devstoreaccount1');
    assert.equal(parsed.connection.tableServiceUri, 'https://ignoredforexplicit.table.core.windows.net');
  });

  it('lets a connection string win, and names every missing or bad setting', () => {
    const both = parseStorageConnection('AzureWebJobsStorage', {
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      AzureWebJobsStorage__accountName: 'x',
    });
    assert.deepEqual(both, {
      ok: true,
      connection: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
    });
    const partial = parseStorageConnection('AzureWebJobsStorage', {
      AzureWebJobsStorage__blobServiceUri: 'http://insecure.example/',
      AzureWebJobsStorage__credential: 'magic',
    });
    assert.equal(partial.ok, false);
    const text = partial.ok ? '' : partial.problems.join('\n');
    assert.match(text, /AzureWebJobsStorage__blobServiceUri must be an https:\/\/ URL/);
    assert.match(text, /AzureWebJobsStorage__queueServiceUri \(or AzureWebJobsStorage__accountName\) is required/);
    assert.match(text, /AzureWebJobsStorage__tableServiceUri/);
    assert.match(text, /AzureWebJobsStorage__credential must be managedidentity/);
    assert.throws(() => parseAppConfig({}), /AzureWebJobsStorage is required/);
  });

  it('parses the app configuration with identity only, and the thumbnail source defaults to Event Grid', () => {
    const config = parseAppConfig({ AzureWebJobsStorage__accountName: 'jobsacct' });
    assert.equal(config.storageConnection.kind, 'identity');
    assert.equal(config.thumbnails.blobSource, 'EventGrid');
    const polling = parseAppConfig({ AzureWebJobsStorage: 'x', THUMBNAIL_BLOB_SOURCE: 'LogsAndContainerScan' });
    assert.equal(polling.thumbnails.blobSource, 'LogsAndContainerScan');
    assert.throws(
      () => parseAppConfig({ AzureWebJobsStorage: 'x', THUMBNAIL_BLOB_SOURCE: 'Polling' }),
      /THUMBNAIL_BLOB_SOURCE/,
    );
  });

  it('chooses the credential by the host rules, in the app and in devhost alike', () => {
    for (const choose of [storageCredential, (identity: object) => devhostCredential(identity, 'S')]) {
      assert.ok(choose({ credential: 'managedidentity' }) instanceof ManagedIdentityCredential);
      assert.ok(choose({ credential: 'ManagedIdentity', clientId: 'abc' }) instanceof ManagedIdentityCredential);
      assert.ok(choose({}) instanceof DefaultAzureCredential);
      assert.ok(choose({ clientId: 'abc' }) instanceof DefaultAzureCredential);
    }
  });
});

describe('identity-based storage connections (devhost)', () => {
  it('resolves a binding connection to per-service URIs, __serviceUri serving the service the binding uses', () => {
    const connection = resolveConnection(
      'Data',
      { Data__serviceUri: 'https://data.blob.core.windows.net', Data__credential: 'managedidentity' },
      'f',
    );
    assert.equal(connection.kind, 'identity');
    if (connection.kind !== 'identity') return;
    assert.equal(connection.accountName, 'data');
    assert.equal(connection.serviceUris.blob, 'https://data.blob.core.windows.net');
    assert.equal(connection.serviceUris.table, undefined);
    assert.deepEqual(connection.identity, { credential: 'managedidentity' });
  });

  it('infers URIs from __accountName for AzureWebJobsStorage only, reads Azurite account names from the path', () => {
    const host = resolveConnection('Storage', { AzureWebJobsStorage__accountName: 'hostacct' }, 'host');
    assert.equal(host.kind === 'identity' && host.serviceUris.queue, 'https://hostacct.queue.core.windows.net');
    assert.throws(() => resolveConnection('Other', { Other__accountName: 'x' }, 'f'), /names no service/);
    const local = resolveConnection(
      'Storage',
      { AzureWebJobsStorage__blobServiceUri: 'https://127.0.0.1:10000/devstoreaccount1' },
      'host',
    );
    assert.equal(local.accountName, 'devstoreaccount1');
    assert.throws(
      () => resolveConnection('Storage', { AzureWebJobsStorage__blobServiceUri: 'http://127.0.0.1:10000/x' }, 'host'),
      /must be an https:\/\/ URL/,
    );
  });
});
