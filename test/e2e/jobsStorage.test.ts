import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../devhost/azurite';
import { getJson, postJson, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { orderBody } from '../support/orderFixtures';
import { storageClients } from '../support/storage';

const MASTER_KEY = 'test-master-key-jobs-storage';

async function tableNames(connectionString: string): Promise<string[]> {
  const names: string[] = [];
  for await (const table of storageClients(connectionString).tables.listTables()) names.push(table.name ?? '');
  return names;
}

/** JOBS_STORAGE: the jobs table in an account of its own (a second Azurite), everything else where it was. */
describe('JOBS_STORAGE', () => {
  let jobsAccount: RunningAzurite;
  let host: DevhostProcess;
  let prefix: string;

  before(async () => {
    jobsAccount = await startAzurite();
    ({ host, prefix } = await startApp({
      env: { JOBS_STORAGE: jobsAccount.connectionString, DEVHOST_MASTER_KEY: MASTER_KEY, SEED_DEMO_CATALOGUE: 'true' },
    }));
  });

  after(async () => {
    await host?.stop();
    await jobsAccount?.stop();
  });

  it('keeps job status, timeline and indexes in the jobs account, and the order runs end to end', async () => {
    const placed = await postJson<{ jobId: string }>(
      host,
      '/api/orders',
      orderBody({}, [{ sku: 'MUG-1', quantity: 1 }]),
    );
    assert.equal(placed.status, 202, JSON.stringify(placed.body));
    const job = await waitForJob(host, placed.body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));

    const jobs = TableClient.fromConnectionString(jobsAccount.connectionString, `${prefix}jobs`, {
      allowInsecureConnection: true,
    });
    const status = await jobs.getEntity<{ status: string }>(job.id, 'status');
    assert.equal(status.status, 'succeeded');
    const timeline = await getJson<{ events: unknown[] }>(host, `/api/jobs/${job.id}/events`, {
      headers: { 'x-functions-key': MASTER_KEY },
    });
    assert.equal(timeline.status, 200);
    assert.ok(timeline.body.events.length > 0, 'the timeline reads from the jobs account');

    const mainTables = await tableNames(process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '');
    assert.ok(!mainTables.includes(`${prefix}jobs`), 'no jobs table in the main account');
    assert.ok(mainTables.includes(`${prefix}inventory`), 'the rest stays in the main account');
    assert.ok(mainTables.includes(`${prefix}sales`));
  });

  it('health probes the jobs table where it is: healthy with both accounts up, 503 when the jobs account is down', async () => {
    const up = await fetch(host.url('/api/health'));
    const upReport = (await up.json()) as { status: string };
    assert.equal(up.status, 200, JSON.stringify(upReport));
    assert.equal(upReport.status, 'healthy');

    await jobsAccount.stop();
    const down = await fetch(host.url('/api/health'));
    const downReport = (await down.json()) as { status: string; reasons?: string[] };
    assert.equal(down.status, 503, JSON.stringify(downReport));
    assert.match(JSON.stringify(downReport), /table storage is unreachable/);
  });
});
