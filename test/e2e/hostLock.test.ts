import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { storageClients } from '../support/storage';
import { templateAppDir } from '../support/templateApp';
import { waitFor } from '../support/wait';

const ACQUIRED = /Host lock lease acquired by instance ID '([0-9A-Za-z]+)'\.$/;
const LEASE_MS = 15_000;

function hostIdOf(host: DevhostProcess): string {
  const id = /Host started \(host id ([^,]+),/.exec(host.lines(/Host started/)[0] ?? '')?.[1];
  assert.ok(id, 'the host id is in the start line');
  return id;
}

describe('the primary host lock with two devhosts on one storage account', () => {
  it('is held by exactly one, renewed past its 15 s lease, taken over after a kill -9, and released on stop', async () => {
    const appDir = await templateAppDir();
    const hosts = [await DevhostProcess.start({ app: appDir }), await DevhostProcess.start({ app: appDir })] as const;
    try {
      const hostId = hostIdOf(hosts[0]);
      assert.equal(hostIdOf(hosts[1]), hostId, 'same app folder, same host id: one app, two instances');
      const lockBlob = storageClients()
        .blobs.getContainerClient('azure-webjobs-hosts')
        .getBlobClient(`locks/${hostId}/host`);

      const holder = await waitFor(
        'one devhost to acquire the host lock',
        () => hosts.find((h) => h.lines(ACQUIRED).length > 0),
        30_000,
      );
      const other = holder === hosts[0] ? hosts[1] : hosts[0];
      const instanceId = ACQUIRED.exec(holder.lines(ACQUIRED)[0] ?? '')?.[1];
      const acquiredAt = Date.now();
      const properties = await lockBlob.getProperties();
      assert.equal(properties.leaseState, 'leased');
      assert.equal(properties.leaseDuration, 'fixed');
      assert.equal(properties.metadata?.['functioninstance'] ?? properties.metadata?.['FunctionInstance'], instanceId);

      // Past one lease period the lease is still held (renewed) and the other instance never got it.
      await waitFor('one lease period to pass', () => Date.now() - acquiredAt > LEASE_MS + 1_000, LEASE_MS + 5_000);
      assert.equal((await lockBlob.getProperties()).leaseState, 'leased', 'renewed before it lapsed');
      assert.equal(other.lines(ACQUIRED).length, 0, 'exactly one instance holds the lock');
      assert.equal(holder.lines(ACQUIRED).length, 1);

      // The holder dies without releasing: the lease lapses and the other takes it over.
      await holder.kill();
      await other.waitForLine(ACQUIRED, 2 * LEASE_MS + 10_000);
      assert.equal((await lockBlob.getProperties()).leaseState, 'leased');

      // A graceful stop releases it at once rather than leaving it to lapse.
      assert.equal(await other.stop(), 0);
      assert.equal(
        other.lines(/Host instance '[0-9A-Za-z]+' released lock lease\.$/).length,
        1,
        other.output.join('\n'),
      );
      assert.equal((await lockBlob.getProperties()).leaseState, 'available');
    } finally {
      for (const host of hosts) await host.kill();
    }
  });
});
