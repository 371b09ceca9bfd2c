import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ensurePortFree } from '../../devhost/portCheck';
import { DevhostProcess } from '../support/devhostProcess';
import { freePort } from '../support/freePort';
import { waitFor } from '../support/wait';

/** Holds a port the way another program would, until closed. */
async function occupy(host?: string): Promise<net.Server & { port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, ...(host ? { host } : {}) }, resolve));
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

/** devhost with the embedded Azurite: the test run's storage setting is replaced by the emulator shorthand. */
function startWithAzurite(dir: string, args: string[]): Promise<DevhostProcess> {
  return DevhostProcess.start({
    app: 'test/apps/http-app',
    env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true' },
    args: ['--azurite', dir, ...args],
    waitForStart: false,
  });
}

describe('devhost ports', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'devhost-ports-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stops with one line naming the option when an Azurite port is taken', async () => {
    const taken = await occupy('127.0.0.1');
    try {
      const host = await startWithAzurite(dir, ['--azurite-blob-port', String(taken.port)]);
      assert.equal(await host.exited, 1);
      const errors = host.lines(/^devhost: /);
      assert.equal(errors.length, 1, host.output.join('\n'));
      assert.match(
        errors[0] ?? '',
        new RegExp(`Azurite's blob port ${taken.port} is in use: choose another with --azurite-blob-port N`),
      );
    } finally {
      taken.close();
    }
  });

  it('stops with one line naming --port when the HTTP port is taken, and stops the Azurite it started', async () => {
    const taken = await occupy();
    const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
    try {
      const host = await startWithAzurite(dir, [
        '--port',
        String(taken.port),
        '--azurite-blob-port',
        String(blob),
        '--azurite-queue-port',
        String(queue),
        '--azurite-table-port',
        String(table),
      ]);
      assert.equal(await host.exited, 1);
      assert.equal(
        host.lines(new RegExp(`Embedded Azurite started on blob ${blob}, queue ${queue}, table ${table}`)).length,
        1,
      );
      const errors = host.lines(/^devhost: /);
      assert.equal(errors.length, 1, host.output.join('\n'));
      assert.match(
        errors[0] ?? '',
        new RegExp(`HTTP port ${taken.port} on 127.0.0.1 is in use .*: choose another with --port N`),
      );
      // The embedded Azurite went with the failed host: its ports are free again.
      await waitFor(
        'the embedded Azurite to release its ports',
        async () => {
          for (const port of [blob, queue, table]) await ensurePortFree(port, '127.0.0.1', 'port', '');
          return true;
        },
        10_000,
      );
    } finally {
      taken.close();
    }
  });

  it('refuses Azurite port options without --azurite, and a port that is not a number', async () => {
    const stray = await DevhostProcess.start({
      app: 'test/apps/http-app',
      args: ['--azurite-queue-port', '10001'],
      waitForStart: false,
    });
    assert.equal(await stray.exited, 1);
    assert.match(stray.lines(/^devhost: /)[0] ?? '', /--azurite-queue-port applies to the embedded Azurite/);
    const bad = await startWithAzurite(dir, ['--azurite-table-port', 'ten']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.lines(/^devhost: /)[0] ?? '', /--azurite-table-port must be a port number from 0 to 65535/);
  });
});
