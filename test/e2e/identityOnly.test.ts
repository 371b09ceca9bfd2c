import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';

import { type RunningAzurite, startAzurite } from '../../devhost/azurite';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { orderBody } from '../support/orderFixtures';
import { localhostCertificate } from '../support/testCertificate';

/** Azurite's well-known development key: it must appear nowhere in the app's settings. */
const DEV_KEY_START = 'Eby8vdM02xNOcqFlqUwJ';

/** PUT over HTTPS trusting only the test's own certificate (the test process started before it existed). */
function httpsPut(url: string, headers: Record<string, string>, body: Buffer, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      { method: 'PUT', headers: { ...headers, 'content-length': body.length }, ca },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('identity-only settings: Azurite with OAuth over HTTPS, devhost as the managed identity endpoint', () => {
  let azurite: RunningAzurite;
  let host: DevhostProcess;
  let certificate: Awaited<ReturnType<typeof localhostCertificate>>;
  let settings: Record<string, string>;

  before(async () => {
    certificate = await localhostCertificate();
    azurite = await startAzurite({
      tls: { certPath: certificate.certPath, keyPath: certificate.keyPath, oauth: true },
    });
    settings = {
      // No connection string: blank the ones the test runner and local.settings.json would provide.
      AzureWebJobsStorage: '',
      TEST_STORAGE_CONNECTION_STRING: '',
      AzureWebJobsStorage__blobServiceUri: azurite.serviceUris.blob,
      AzureWebJobsStorage__queueServiceUri: azurite.serviceUris.queue,
      AzureWebJobsStorage__tableServiceUri: azurite.serviceUris.table,
      AzureWebJobsStorage__credential: 'managedidentity',
      DEVHOST_MANAGED_IDENTITY: 'true',
      NODE_EXTRA_CA_CERTS: certificate.certPath,
    };
    ({ host } = await startApp({ env: settings }));
  });
  after(async () => {
    const code = await host?.stop();
    await azurite?.stop();
    await rm(certificate.dir, { recursive: true, force: true });
    assert.equal(code, 0);
  });

  it('has no account key anywhere in the app settings', () => {
    const appEnvironment = { ...process.env, ...settings };
    for (const [name, value] of Object.entries(appEnvironment)) {
      assert.ok(!/AccountKey=/i.test(value ?? ''), `${name} holds an account key`);
      assert.ok(!(value ?? '').includes(DEV_KEY_START), `${name} holds the development key`);
    }
    assert.ok(host.lines(/Managed identity emulated at http:\/\/127\.0\.0\.1:\d+/).length > 0);
  });

  it('runs a thumbnail upload through a user delegation SAS and the Event Grid source', async () => {
    const created = await postJson<{ jobId: string; upload: { url: string; headers: Record<string, string> } }>(
      host,
      '/api/uploads',
      { fileName: 'identity.png', contentType: 'image/png' },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const sas = new URL(created.body.upload.url).searchParams;
    assert.ok(sas.get('skoid') && sas.get('sktid'), 'a user delegation SAS (signed object and tenant ids)');
    assert.equal(sas.get('sp'), 'cw');
    assert.equal(sas.get('sr'), 'b', 'one blob');
    const lifetimeMs = new Date(sas.get('se') ?? '').getTime() - Date.now();
    assert.ok(lifetimeMs > 0 && lifetimeMs <= 16 * 60_000, `short lifetime (${lifetimeMs} ms)`);
    const status = await httpsPut(
      created.body.upload.url,
      created.body.upload.headers,
      await testImage(320, 240, 'png'),
      certificate.cert,
    );
    assert.equal(status, 201);
    const job = await waitForJob(host, created.body.jobId, undefined, 60_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  });

  it('runs an order to completion', async () => {
    const stock = await fetch(host.url('/api/inventory/SKU-A'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stock: 5, priceCents: 1200, name: 'Item A' }),
    });
    assert.equal(stock.status, 200, await stock.text());
    const order = await postJson<{ jobId: string }>(host, '/api/orders', orderBody());
    assert.equal(order.status, 202, JSON.stringify(order.body));
    const job = await waitForJob(host, order.body.jobId, undefined, 90_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  });

  it('runs the nightly batch on demand', async () => {
    const date = new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
    const run = await postJson<{ jobId: string }>(host, '/api/batch/nightly/run', { date });
    assert.equal(run.status, 202, JSON.stringify(run.body));
    const job = await waitForJob(host, run.body.jobId, undefined, 60_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const report = await getJson<unknown>(host, `/api/reports/daily/${date}.json`);
    assert.equal(report.status, 200);
  });
});

export type { PublicJob };
