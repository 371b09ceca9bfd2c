import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { DevhostProcess } from '../support/devhostProcess';
import { useOwnAzurite } from '../support/ownAzurite';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

// These tests read webjobs-blobtrigger-poison, one queue per account: they get an account to themselves.
useOwnAzurite();

const APP = 'test/apps/blob-app';

interface Processed {
  name: string;
  ext: string;
  blobTrigger: string;
  uri: string;
  length: number;
  contentType: string;
  isBuffer: boolean;
  text: string;
  pid: number;
}

function processed(hosts: DevhostProcess[]): Processed[] {
  return hosts.flatMap((host) =>
    host.lines(/PROCESSED /).map((line) => JSON.parse(line.slice(line.indexOf('PROCESSED ') + 10)) as Processed),
  );
}

async function newContainers() {
  const names = { IN_CONTAINER: uniqueName('in-'), OUT_CONTAINER: uniqueName('out-') };
  const clients = storageClients();
  const input = clients.blobs.getContainerClient(names.IN_CONTAINER);
  const output = clients.blobs.getContainerClient(names.OUT_CONTAINER);
  await Promise.all([input.create(), output.create()]);
  // A host id of its own, so parallel test files never share receipts or the internal queue.
  return { env: { ...names, AzureFunctionsWebHost__hostid: uniqueName('host-') }, input, output };
}

async function upload(container: ContainerClient, name: string, text: string, contentType = 'text/plain') {
  await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: contentType },
  });
}

describe('devhost blob trigger', () => {
  let setup: Awaited<ReturnType<typeof newContainers>>;
  let host: DevhostProcess;

  before(async () => {
    setup = await newContainers();
    await upload(setup.input, 'existing.txt', 'there before the host');
    host = await DevhostProcess.start({ app: APP, env: setup.env });
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('runs for a blob that existed before the host started, with the path parameters and metadata', async () => {
    await waitFor('existing.txt processed', () => processed([host]).find((p) => p.name === 'existing'));
    const seen = processed([host]).find((p) => p.name === 'existing');
    assert.ok(seen);
    assert.equal(seen.ext, 'txt');
    assert.equal(seen.blobTrigger, `${setup.input.containerName}/existing.txt`);
    assert.ok(seen.uri.endsWith(`/${setup.input.containerName}/existing.txt`), seen.uri);
    assert.equal(seen.length, Buffer.byteLength('there before the host'));
    assert.equal(seen.contentType, 'text/plain');
    assert.equal(seen.isBuffer, true, 'the blob arrives as a Buffer, as the host binds byte[]');
    assert.equal(seen.text, 'there before the host');
  });

  it('runs for a new blob, writes the output binding, and the written blob triggers the next function', async () => {
    await upload(setup.input, 'report.final.csv', 'a,b');
    await waitFor('the copy to trigger onCopy', () => host.lines(/COPIED .*report\.final-copy\.csv copy:a,b/)[0]);
    const seen = processed([host]).find((p) => p.blobTrigger.endsWith('report.final.csv'));
    assert.ok(seen);
    // `{name}.{ext}` captures greedily, as the host's regex does.
    assert.equal(seen.name, 'report.final');
    assert.equal(seen.ext, 'csv');
    const copy = await setup.output.getBlobClient('report.final-copy.csv').downloadToBuffer();
    assert.equal(copy.toString(), 'copy:a,b');
  });

  it('runs again when a blob is overwritten (a new ETag), and only then', async () => {
    await upload(setup.input, 'changing.txt', 'version 1');
    await waitFor('version 1', () => processed([host]).find((p) => p.text === 'version 1'));
    await upload(setup.input, 'changing.txt', 'version 2');
    await waitFor('version 2', () => processed([host]).find((p) => p.text === 'version 2'));
    // Two more scans pass without a third run of the same blob.
    const marker = 'after-changing.txt';
    await upload(setup.input, marker, 'x');
    await waitFor('a later blob', () => processed([host]).find((p) => p.name === 'after-changing'));
    assert.equal(processed([host]).filter((p) => p.name === 'changing').length, 2);
  });

  it('ignores blobs that do not match the path pattern', async () => {
    await upload(setup.input, 'no-extension', 'x');
    await upload(setup.input, 'matching.txt', 'x');
    await waitFor('the matching blob', () => processed([host]).find((p) => p.name === 'matching'));
    assert.equal(
      processed([host]).filter((p) => p.blobTrigger.endsWith('/no-extension')).length,
      0,
      '`{name}.{ext}` needs a dot',
    );
  });

  it('retries a failing blob poisonBlobThreshold times, then moves the internal message to webjobs-blobtrigger-poison', async () => {
    const poison = storageClients().queues.getQueueClient('webjobs-blobtrigger-poison');
    await upload(setup.input, 'fail-me.txt', 'bad');
    await waitFor('two attempts', () => processed([host]).filter((p) => p.name === 'fail-me').length >= 2 || undefined);
    const message = await waitFor('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
      return peekedMessageItems
        .map((item) => JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as Record<string, string>)
        .find((body) => body['ContainerName'] === setup.input.containerName && body['BlobName'] === 'fail-me.txt');
    });
    assert.equal(message['FunctionId'], 'Host.Functions.onUpload');
    assert.equal(message['BlobType'], 'BlockBlob');
    assert.match(message['ETag'] ?? '', /^"0x/);
    assert.equal(processed([host]).filter((p) => p.name === 'fail-me').length, 2, 'poisonBlobThreshold is 2');
  });
});

describe('devhost blob trigger across restarts and instances', () => {
  it('does not run a blob version again after a restart (receipts)', async () => {
    const setup = await newContainers();
    await upload(setup.input, 'once.txt', 'once');
    const first = await DevhostProcess.start({ app: APP, env: setup.env, args: ['--functions', 'onUpload'] });
    await waitFor('first run', () => processed([first]).find((p) => p.name === 'once'));
    assert.equal(await first.stop(), 0);
    const second = await DevhostProcess.start({ app: APP, env: setup.env, args: ['--functions', 'onUpload'] });
    try {
      await upload(setup.input, 'later.txt', 'later');
      await waitFor('the later blob on the restarted host', () => processed([second]).find((p) => p.name === 'later'));
      assert.equal(processed([second]).filter((p) => p.name === 'once').length, 0);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });

  it('two hosts sharing storage run each blob version exactly once', async () => {
    const setup = await newContainers();
    const hosts = await Promise.all([
      DevhostProcess.start({ app: APP, env: setup.env, args: ['--functions', 'onUpload'] }),
      DevhostProcess.start({ app: APP, env: setup.env, args: ['--functions', 'onUpload'] }),
    ]);
    try {
      const names = Array.from({ length: 30 }, (_, i) => `blob-${i}`);
      await Promise.all(names.map((name) => upload(setup.input, `${name}.txt`, name)));
      await waitFor(
        'all 30 blobs processed',
        () => new Set(processed(hosts).map((p) => p.name)).size >= 30 || undefined,
        60_000,
      );
      // Give both scanners two more passes to show that neither runs a blob a second time.
      await upload(setup.input, 'sentinel.txt', 's');
      await waitFor('the sentinel', () => processed(hosts).find((p) => p.name === 'sentinel'));
      const counts = new Map<string, number>();
      for (const p of processed(hosts)) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
      for (const name of names) assert.equal(counts.get(name), 1, `${name} ran ${counts.get(name) ?? 0} times`);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  });
});
