import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

const APP = 'test/apps/timer-app';

interface Fired {
  isPastDue: boolean;
  status: { last: string; next: string; lastUpdated: string } | null;
  pid: number;
  at: string;
}

function fired(host: DevhostProcess, marker: string): Fired[] {
  return host.lines(new RegExp(`${marker} \\{`)).map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Fired);
}

/** A host id of its own, so tests never share locks or schedule status. */
function hostEnv() {
  return { AzureFunctionsWebHost__hostid: uniqueName('timer-') };
}

function statusBlob(hostId: string, fn: string) {
  return storageClients()
    .blobs.getContainerClient('azure-webjobs-hosts')
    .getBlockBlobClient(`timers/${hostId}/Host.Functions.${fn}/status`);
}

describe('devhost timer trigger', () => {
  it('fires on an NCRONTAB schedule with seconds, without the monitor for a sub-minute schedule', async () => {
    const host = await DevhostProcess.start({ app: APP, env: hostEnv(), args: ['--functions', 'tick'] });
    try {
      const ticks = await waitFor('three ticks', () =>
        fired(host, 'TICK').length >= 3 ? fired(host, 'TICK') : undefined,
      );
      for (const tick of ticks) {
        assert.equal(tick.isPastDue, false);
        assert.equal(tick.status, null, 'scheduleStatus is null when the monitor is off');
        assert.equal(new Date(tick.at).getUTCSeconds() % 2, 0, `${tick.at} is on an even second`);
      }
      assert.match(host.lines(/next 5 occurrences/)[0] ?? '', /tick/);
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });

  it('catches up a missed occurrence once, with isPastDue, and records the run in the status blob', async () => {
    const env = hostEnv();
    const hostId = env.AzureFunctionsWebHost__hostid;
    const blob = statusBlob(hostId, 'daily');
    const container = storageClients().blobs.getContainerClient('azure-webjobs-hosts');
    await container.createIfNotExists();
    // The host last ran two nights ago; last night's 02:00 was missed while nothing ran.
    const now = new Date();
    const lastNight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 2));
    if (lastNight > now) lastNight.setUTCDate(lastNight.getUTCDate() - 1);
    const nightBefore = new Date(lastNight.getTime() - 86_400_000);
    const status = JSON.stringify({
      Last: nightBefore.toISOString(),
      Next: lastNight.toISOString(),
      LastUpdated: nightBefore.toISOString(),
    });
    await blob.upload(status, Buffer.byteLength(status));

    const host = await DevhostProcess.start({ app: APP, env, args: ['--functions', 'daily'] });
    try {
      const [run] = await waitFor('the past-due run', () => fired(host, 'DAILY')[0] && fired(host, 'DAILY'));
      assert.ok(run);
      assert.equal(run.isPastDue, true);
      assert.equal(run.status?.next, lastNight.toISOString(), 'scheduleStatus.next names the missed occurrence');
      assert.equal(run.status?.last, nightBefore.toISOString());
      const written = await waitFor('the status blob to record the run', async () => {
        const doc = JSON.parse((await blob.downloadToBuffer()).toString()) as { Last: string; Next: string };
        return doc.Last !== nightBefore.toISOString() ? doc : undefined;
      });
      assert.ok(new Date(written.Last) > lastNight);
      assert.equal(new Date(written.Next).toISOString(), new Date(lastNight.getTime() + 86_400_000).toISOString());
      assert.match(host.lines(/Executing 'Functions.daily'/)[0] ?? '', /Timer fired at/);
    } finally {
      assert.equal(await host.stop(), 0);
    }
    assert.equal(fired(host, 'DAILY').length, 1, 'one catch-up for any number of missed occurrences');
  });

  it('does not run a schedule that is not past due, and runs runOnStartup functions once at start', async () => {
    const host = await DevhostProcess.start({ app: APP, env: hostEnv(), args: ['--functions', 'daily,startup'] });
    try {
      const [run] = await waitFor('the start-up run', () => fired(host, 'STARTUP')[0] && fired(host, 'STARTUP'));
      assert.equal(run?.isPastDue, false);
      assert.ok(run?.status, 'a yearly schedule uses the monitor');
    } finally {
      assert.equal(await host.stop(), 0);
    }
    assert.equal(fired(host, 'STARTUP').length, 1);
    assert.equal(fired(host, 'DAILY').length, 0, 'a first start records the schedule; nothing is past due');
  });

  it('never overlaps invocations of one timer when a run outlasts the period', async () => {
    const host = await DevhostProcess.start({ app: APP, env: hostEnv(), args: ['--functions', 'slow'] });
    try {
      await host.waitForLines(/SLOW-END/, 3, 20_000);
    } finally {
      assert.equal(await host.stop(), 0);
    }
    const events = host
      .lines(/SLOW-(START|END) \d+/)
      .map((line) => /SLOW-(START|END)/.exec(line)?.[1] ?? '')
      .join(',');
    assert.match(events, /^(START,END,)*(START,END|START)?$/, `events alternate: ${events}`);
  });

  it('retries a failing timer run with its retry policy', async () => {
    const host = await DevhostProcess.start({ app: APP, env: hostEnv(), args: ['--functions', 'flaky'] });
    try {
      await host.waitForLine(/FLAKY attempt 3 retryCount 2/);
      await host.waitForLine(/Executed 'Functions.flaky' \(Succeeded/);
      assert.equal(host.lines(/Executed 'Functions.flaky' \(Failed/).length, 2);
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });
});

describe('devhost timer trigger across instances', () => {
  it('runs each occurrence on one instance only (singleton lock), and another takes over when it stops', async () => {
    const env = hostEnv();
    const args = ['--functions', 'tick'];
    const first = await DevhostProcess.start({ app: APP, env, args });
    await waitFor('the first host to tick', () => fired(first, 'TICK')[0]);
    const second = await DevhostProcess.start({ app: APP, env, args });
    try {
      await waitFor('three more ticks', () => fired(first, 'TICK').length >= 4 || undefined);
      assert.equal(fired(second, 'TICK').length, 0, 'the second instance waits for the lock');
      assert.equal(await first.stop(), 0);
      await waitFor('the second host to take over', () => fired(second, 'TICK')[0], 30_000);
      const seconds = [...fired(first, 'TICK'), ...fired(second, 'TICK')].map((t) => t.at.slice(0, 19));
      assert.equal(new Set(seconds).size, seconds.length, 'no occurrence ran twice');
    } finally {
      await first.stop();
      assert.equal(await second.stop(), 0);
    }
  });
});
