import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import type { JobSummary } from '../../shared/jobs/jobSummary';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { orderBody } from '../support/orderFixtures';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

const MASTER_KEY = 'test-master-key-lookup';
const admin = { 'x-functions-key': MASTER_KEY };

type ListedJob = PublicJob & { label: string };

describe('finding jobs: by blob, by label, and the summary', () => {
  let host: DevhostProcess;
  let prefix: string;
  let uploads: ContainerClient;

  before(async () => {
    ({ host, prefix } = await startApp({ env: { DEVHOST_MASTER_KEY: MASTER_KEY }, args: ['--enforce-keys'] }));
    uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
    await waitFor('the uploads container', () => uploads.exists());
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('finds the job of a blob uploaded straight into uploads, by source=uploads/{name}', async () => {
    const name = 'holiday/beach.png';
    await uploads.getBlockBlobClient(name).uploadData(await testImage(300, 200, 'png'));
    const source = `/api/jobs?source=${encodeURIComponent(`uploads/${name}`)}`;
    const found = await waitFor('the blob trigger to create the job', async () => {
      const { status, body } = await getJson<{ jobs: ListedJob[] }>(host, source, { headers: admin });
      assert.equal(status, 200);
      return body.jobs[0];
    });
    assert.equal(found.type, 'thumbnail');
    assert.equal(found.label, name);
    assert.equal((await waitForJob(host, found.id)).status, 'succeeded');
    const unknown = await getJson<{ jobs: ListedJob[] }>(host, '/api/jobs?source=uploads/nothing.png', {
      headers: admin,
    });
    assert.deepEqual(unknown.body, { jobs: [] });
    const wrong = await getJson<{ errors: { field: string }[] }>(host, '/api/jobs?source=thumbnails/x.png', {
      headers: admin,
    });
    assert.equal(wrong.status, 400);
    assert.match(JSON.stringify(wrong.body), /source/);
  });

  it('finds a valet-key upload by its source too, and lists it by file name', async () => {
    const created = await postJson<{
      jobId: string;
      blob: { name: string };
      upload: { url: string; headers: Record<string, string> };
    }>(host, '/api/uploads', { fileName: 'sunset.png', contentType: 'image/png' });
    assert.equal(created.status, 201);
    const put = await fetch(created.body.upload.url, {
      method: 'PUT',
      headers: created.body.upload.headers,
      body: await testImage(320, 200, 'png'),
    });
    assert.equal(put.status, 201);
    const { body } = await getJson<{ jobs: ListedJob[] }>(
      host,
      `/api/jobs?source=${encodeURIComponent(`uploads/${created.body.blob.name}`)}`,
      { headers: admin },
    );
    assert.equal(body.jobs[0]?.id, created.body.jobId);
    await waitForJob(host, created.body.jobId);
    const listed = await getJson<{ jobs: ListedJob[] }>(host, '/api/jobs?type=thumbnail', { headers: admin });
    assert.equal(listed.body.jobs.find((job) => job.id === created.body.jobId)?.label, 'sunset.png');
  });

  it('summarises jobs per type and status with the last hour, behind the admin key', async () => {
    const stock = await fetch(host.url('/api/inventory/SKU-L'), {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ stock: 5, priceCents: 1200, name: 'Lamp' }),
    });
    assert.equal(stock.status, 200);
    const order = await postJson<{ jobId: string }>(
      host,
      '/api/orders',
      orderBody({}, [{ sku: 'SKU-L', quantity: 1 }]),
    );
    assert.equal(order.status, 202);
    await waitForJob(host, order.body.jobId);
    const listed = await getJson<{ jobs: ListedJob[] }>(host, '/api/jobs?type=order', { headers: admin });
    assert.match(listed.body.jobs.find((job) => job.id === order.body.jobId)?.label ?? '', /, 1 item$/);
    assert.equal((await getJson(host, '/api/stats/jobs')).status, 401, 'anonymous callers get nothing');
    const summary = await waitFor('the summary to include the finished jobs', async () => {
      const { status, body } = await getJson<JobSummary>(host, '/api/stats/jobs', { headers: admin });
      assert.equal(status, 200);
      return body.counts['order']?.succeeded === 1 && body.counts['thumbnail']?.succeeded === 2 ? body : undefined;
    });
    assert.equal(summary.lastHour.succeeded, 3);
    assert.equal(summary.lastHour.failed, 0);
    assert.equal(summary.throughput.length, 60);
    assert.equal(
      summary.throughput.reduce((sum, minute) => sum + minute.succeeded, 0),
      3,
    );
    assert.equal(summary.truncated, false);
  });
});
