import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { getJson, postJson } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { orderBody } from '../support/orderFixtures';
import { storageClients, uniqueName } from '../support/storage';

const MASTER_KEY = 'security-master-key-0123456789';
const FUNCTION_KEY = 'security-function-key-0123456789';
const PUBLIC_BASE_URL = 'https://jobs.example.com';
const admin = { 'x-functions-key': MASTER_KEY };

interface Accepted {
  jobId: string;
  statusUrl: string;
  cancelToken: string;
}

/** A raw request with a Host header of the caller's choosing (fetch does not let a caller set Host). */
function requestWithHost(
  host: DevhostProcess,
  path: string,
  hostHeader: string,
  body: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const target = new URL(host.url(path));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { host: hostHeader, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('security: who may list and cancel, crafted input, headers, health', () => {
  let host: DevhostProcess;
  let prefix: string;

  before(async () => {
    ({ host, prefix } = await startApp({
      env: {
        DEVHOST_MASTER_KEY: MASTER_KEY,
        DEVHOST_FUNCTION_KEY: FUNCTION_KEY,
        PUBLIC_BASE_URL,
        WEBHOOK_SIGNING_SECRET: 'security-webhook-secret-of-32-characters',
        HEALTH_DEADLETTER_WARN: '3',
        SEED_DEMO_CATALOGUE: 'true',
      },
      args: ['--enforce-keys'],
    }));
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  /** An order that waits a minute before starting, so it is still cancellable. */
  async function laterOrder(): Promise<Accepted> {
    const later = new Date(Date.now() + 60_000).toISOString();
    const response = await postJson<Accepted>(
      host,
      '/api/orders',
      orderBody({ notBefore: later }, [{ sku: 'MUG-1', quantity: 1 }]),
    );
    assert.equal(response.status, 202, JSON.stringify(response.body));
    return response.body;
  }

  it('lists jobs and shows timelines only with the admin key; a status URL stays readable by its holder', async () => {
    const order = await laterOrder();
    const callers: Record<string, string>[] = [{}, { 'x-functions-key': FUNCTION_KEY }];
    for (const headers of callers) {
      assert.equal((await fetch(host.url('/api/jobs'), { headers })).status, 401, JSON.stringify(headers));
      assert.equal((await fetch(host.url(`/api/jobs/${order.jobId}/events`), { headers })).status, 401);
    }
    const listed = await getJson<{ jobs: { id: string }[] }>(host, '/api/jobs?type=order', { headers: admin });
    assert.equal(listed.status, 200);
    assert.ok(listed.body.jobs.some((job) => job.id === order.jobId));
    assert.equal((await fetch(host.url(`/api/jobs/${order.jobId}/events`), { headers: admin })).status, 200);
    assert.equal((await fetch(host.url(`/api/jobs/${order.jobId}`))).status, 200);
  });

  it('cancels only with the cancel token returned at creation, or through the admin route', async () => {
    const order = await laterOrder();
    const other = await laterOrder();
    assert.match(order.cancelToken, /^[A-Za-z0-9_-]{43}$/);
    const callers: Record<string, string>[] = [
      {},
      { 'x-cancel-token': 'guess' },
      { 'x-cancel-token': other.cancelToken },
    ];
    for (const headers of callers) {
      const refused = await postJson<{ type: string }>(host, `/api/jobs/${order.jobId}/cancel`, {}, headers);
      assert.equal(refused.status, 403, JSON.stringify(headers));
      assert.match(refused.body.type, /cancel-token-required$/);
    }
    const status = await getJson<{ status: string }>(host, `/api/jobs/${order.jobId}`);
    assert.equal(status.body.status, 'queued', 'a refused cancel changes nothing');
    const cancelled = await postJson(
      host,
      `/api/jobs/${order.jobId}/cancel`,
      {},
      { 'x-cancel-token': order.cancelToken },
    );
    assert.equal(cancelled.status, 202);

    assert.equal((await postJson(host, `/api/manage/jobs/${other.jobId}/cancel`, {})).status, 401);
    assert.equal(
      (await postJson(host, `/api/manage/jobs/${other.jobId}/cancel`, {}, { 'x-functions-key': FUNCTION_KEY })).status,
      401,
    );
    assert.equal((await postJson(host, `/api/manage/jobs/${other.jobId}/cancel`, {}, admin)).status, 202);
  });

  it('answers crafted dashboard file names with 404 and a forged continuation token with 400', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const response = await fetch(host.url(`/api/dashboard/${name}`));
      assert.equal(response.status, 404, name);
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    for (const path of ['/api/jobs', '/api/deadletters']) {
      for (const token of ['abc', Buffer.from('{"x":1}').toString('base64'), '%%%']) {
        const response = await getJson<{ errors: { field: string }[] }>(
          host,
          `${path}?continuationToken=${encodeURIComponent(token)}`,
          { headers: admin },
        );
        assert.equal(response.status, 400, `${path} ${token}`);
        assert.ok(response.body.errors.some((e) => e.field === 'continuationToken'));
      }
    }
  });

  it("restricts replyTo to reply queues: never the app's own, poison or host queues", async () => {
    for (const replyTo of [
      `${prefix}-order-compensate`,
      'order-compensate',
      'webjobs-blobtrigger-poison',
      'azure-webjobs-hosts',
      'replies-x-poison',
    ]) {
      const refused = await postJson<{ errors: { field: string }[] }>(host, '/api/orders', orderBody({ replyTo }));
      assert.equal(refused.status, 400, replyTo);
      assert.ok(
        refused.body.errors.some((e) => e.field === 'replyTo'),
        replyTo,
      );
    }
    const accepted = await postJson(
      host,
      '/api/orders',
      orderBody({ replyTo: uniqueName('replies-') }, [{ sku: 'MUG-1', quantity: 1 }]),
    );
    assert.equal(accepted.status, 202);
  });

  it('refuses a callbackUrl without telling the caller what the name resolves to; the log has the detail', async () => {
    // 167838211 is 10.1.2.3 written as one number: the caller never wrote the address it resolves to.
    const refused = await fetch(host.url('/api/orders'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(orderBody({ callbackUrl: 'https://167838211/hook' })),
    });
    assert.equal(refused.status, 400);
    const text = await refused.text();
    assert.ok(!text.includes('10.1.2.3'), text);
    assert.match(text, /callbackUrl/);
    await host.waitForLine(/callbackUrl refused: .*10\.1\.2\.3/);
  });

  it('refuses control characters in names and address lines', async () => {
    const body = orderBody({
      customer: { name: 'Ada\r\nBcc: all@example.com', email: 'ada@example.com' },
      shippingAddress: { line1: '12 Row\nInjected', city: 'Lon\u0000don', postalCode: 'N1\u20289GU', country: 'GB' },
    });
    const refused = await postJson<{ errors: { field: string }[] }>(host, '/api/orders', body);
    assert.equal(refused.status, 400);
    const fields = refused.body.errors.map((e) => e.field).sort();
    assert.deepEqual(fields, [
      'customer.name',
      'shippingAddress.city',
      'shippingAddress.line1',
      'shippingAddress.postalCode',
    ]);
    const inventory = await fetch(host.url('/api/inventory/MUG-2'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ stock: 1, name: 'Mug\r\nX-Injected: 1' }),
    });
    assert.equal(inventory.status, 400);
  });

  it('builds Location and status URLs from PUBLIC_BASE_URL, never from the Host header', async () => {
    const response = await requestWithHost(
      host,
      '/api/orders',
      'attacker.example',
      JSON.stringify(orderBody({}, [{ sku: 'MUG-1', quantity: 1 }])),
    );
    assert.equal(response.status, 202, response.body);
    const body = JSON.parse(response.body) as Accepted;
    assert.equal(response.headers['location'], `${PUBLIC_BASE_URL}/api/jobs/${body.jobId}`);
    assert.equal(body.statusUrl, `${PUBLIC_BASE_URL}/api/jobs/${body.jobId}`);
    const upload = await postJson<{ statusUrl: string }>(host, '/api/uploads', {
      fileName: 'cat.png',
      contentType: 'image/png',
    });
    assert.ok(upload.body.statusUrl.startsWith(`${PUBLIC_BASE_URL}/api/jobs/upl_`), upload.body.statusUrl);
  });

  it('sends nosniff on every response, and the dashboard CSP forbids <base> and foreign form targets', async () => {
    const responses = await Promise.all([
      fetch(host.url('/api/health')),
      fetch(host.url('/api/jobs/nope')),
      fetch(host.url('/api/inventory/MUG-1')),
      fetch(host.url('/api/orders'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
      fetch(host.url('/api/thumbnails/128/missing.png')),
      fetch(host.url('/api/reports/daily'), { headers: admin }),
      fetch(host.url('/api/queues'), { headers: admin }),
      fetch(host.url('/api/dashboard')),
      fetch(host.url('/api/dashboard/app.js')),
    ]);
    for (const response of responses) {
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', response.url);
      await response.arrayBuffer();
    }
    const csp = responses.at(-2)?.headers.get('content-security-policy') ?? '';
    assert.match(csp, /base-uri 'none'/);
    assert.match(csp, /form-action 'self'/);
  });

  it('reports unhealthy when open dead letters reach HEALTH_DEADLETTER_WARN', async () => {
    const healthy = await getJson<{ deadLetters: { open: number } }>(host, '/api/health');
    assert.equal(healthy.body.deadLetters.open, 0);
    const store = new DeadLetterStore(storageClients().table(`${prefix}deadletters`));
    await store.ensureTable();
    for (let i = 0; i < 3; i++) {
      await store.record({
        id: `dl_${String(1_000_000_000_000 + i).padStart(13, '0')}_AAAAAAAAAAAAAAA${i}`,
        source: { kind: 'queue', queue: `${prefix}-order-payment` },
        body: '{}',
        dequeueCount: 5,
        error: { code: 'TEST', message: 'recorded by the test' },
        deadLetteredAt: new Date().toISOString(),
      });
    }
    const unhealthy = await getJson<{ reasons: string[]; deadLetters: { open: number; threshold: number } }>(
      host,
      '/api/health',
    );
    assert.equal(unhealthy.status, 503);
    assert.deepEqual(unhealthy.body.deadLetters, { open: 3, atLeast: true, threshold: 3 });
    assert.ok(
      unhealthy.body.reasons.some((r) => r.includes('dead letters are open')),
      unhealthy.body.reasons.join('; '),
    );
  });
});
