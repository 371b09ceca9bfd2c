import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { CARDS, orderBody, OrderLedger } from '../support/orderFixtures';
import { SmtpSink } from '../support/smtpSink';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';
import { WebhookReceiver } from '../support/webhookReceiver';

const MASTER_KEY = 'test-master-key-orders';
const admin = { 'x-functions-key': MASTER_KEY };
const SECRET = 'test-webhook-secret-of-32-characters';

async function setStock(host: DevhostProcess, sku: string, stock: number, priceCents = 1000) {
  const response = await fetch(host.url(`/api/inventory/${sku}`), {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...admin },
    body: JSON.stringify({ stock, priceCents, name: `Item ${sku}` }),
  });
  assert.equal(response.status, 200, await response.text());
}

async function placeOrder(host: DevhostProcess, body: unknown, headers: Record<string, string> = {}) {
  const response = await postJson<{ jobId: string; statusUrl: string; cancelToken: string }>(
    host,
    '/api/orders',
    body,
    headers,
  );
  assert.equal(response.status, 202, JSON.stringify(response.body));
  return response;
}

async function events(host: DevhostProcess, jobId: string): Promise<{ kind: string; message: string }[]> {
  return (await getJson<{ events: { kind: string; message: string }[] }>(host, `/api/jobs/${jobId}/events`)).body
    .events;
}

describe('order workflow', () => {
  let host: DevhostProcess;
  let prefix: string;
  let smtp: SmtpSink;
  let hooks: WebhookReceiver;
  let ledger: OrderLedger;

  before(async () => {
    smtp = await SmtpSink.start();
    hooks = await WebhookReceiver.start(SECRET);
    ({ host, prefix } = await startApp({
      env: {
        DEVHOST_MASTER_KEY: MASTER_KEY,
        SMTP_URL: smtp.url,
        WEBHOOK_SIGNING_SECRET: SECRET,
        WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        ORDER_SUPERVISOR_SCHEDULE: '*/2 * * * * *',
        ORDER_STEP_DEADLINE_SECONDS: '6',
        ORDER_MAX_REDRIVES: '20',
        SEED_DEMO_CATALOGUE: 'false',
      },
    }));
    ledger = new OrderLedger(prefix);
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
    await smtp.stop();
    await hooks.stop();
  });

  it('runs an order end to end: one reservation, one charge, one shipment, one email over SMTP', async () => {
    await setStock(host, 'SKU-A', 10, 1250);
    const { body, headers } = await placeOrder(host, orderBody());
    assert.equal(headers.get('location'), body.statusUrl);
    assert.equal(headers.get('retry-after'), '2');
    const job = await waitForJob(host, body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.percent, 100);
    const shipment = job.result?.['shipment'] as { trackingNumber: string };
    assert.match(shipment.trackingNumber, /^SBX/);
    assert.deepEqual(await ledger.effects(body.jobId, ['SKU-A']), {
      charges: 1,
      refunds: 0,
      reservations: 1,
      released: 0,
      emails: 1,
      shipments: 1,
    });
    assert.equal(await ledger.stock('SKU-A'), 8);
    const mail = await waitFor('the confirmation email', () =>
      smtp.messages.find((m) => m.subject.includes(body.jobId)),
    );
    assert.match(mail.to, /ada@example.com/);
    assert.match(mail.text, /2 × Item SKU-A/);
    assert.match(mail.text, new RegExp(shipment.trackingNumber));
    assert.equal((job.result?.['charge'] as { cardLast4: string }).cardLast4, '4242');
  });

  it('compensates a declined card: stock restored, no charge left', async () => {
    await setStock(host, 'SKU-D', 5);
    const { body } = await placeOrder(
      host,
      orderBody({ payment: { cardNumber: CARDS.declined } }, [{ sku: 'SKU-D', quantity: 3 }]),
    );
    const job = await waitForJob(host, body.jobId);
    assert.equal(job.status, 'compensated');
    assert.equal(job.error?.code, 'PAYMENT_DECLINED');
    const effects = await ledger.effects(body.jobId, ['SKU-D']);
    assert.equal(effects.charges, 0);
    assert.equal(effects.reservations, 0);
    assert.equal(effects.released, 1);
    assert.equal(effects.emails, 0);
    assert.equal(await ledger.stock('SKU-D'), 5);
  });

  it('fails an order that is out of stock, clearly, holding nothing', async () => {
    await setStock(host, 'SKU-O', 1);
    await setStock(host, 'SKU-P', 10);
    const { body } = await placeOrder(
      host,
      orderBody({}, [
        { sku: 'SKU-P', quantity: 2 },
        { sku: 'SKU-O', quantity: 2 },
      ]),
    );
    const job = await waitForJob(host, body.jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 'OUT_OF_STOCK');
    assert.match(job.error?.message ?? '', /SKU-O/);
    assert.equal(await ledger.stock('SKU-P'), 10, 'the line reserved before the shortage is returned');
    assert.equal(await ledger.stock('SKU-O'), 1);
    assert.equal((await ledger.effects(body.jobId, ['SKU-O', 'SKU-P'])).charges, 0);
  });

  it('retries a transient payment failure and charges once', async () => {
    await setStock(host, 'SKU-T', 5);
    const { body } = await placeOrder(
      host,
      orderBody({ payment: { cardNumber: CARDS.flaky } }, [{ sku: 'SKU-T', quantity: 1 }]),
    );
    const job = await waitForJob(host, body.jobId, undefined, 60_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.ok(
      (await events(host, body.jobId)).some((e) => e.kind === 'step-failed' && /PAYMENT_UNAVAILABLE/.test(e.message)),
    );
    const effects = await ledger.effects(body.jobId, ['SKU-T']);
    assert.equal(effects.charges, 1);
    assert.equal(effects.emails, 1);
  });

  it('changes nothing when step messages arrive again, twice each and out of order', async () => {
    await setStock(host, 'SKU-R', 5);
    const { body } = await placeOrder(host, orderBody({}, [{ sku: 'SKU-R', quantity: 1 }]));
    const done = await waitForJob(host, body.jobId);
    assert.equal(done.status, 'succeeded');
    const queues = storageClients().queues;
    const steps = ['email', 'payment', 'reserve', 'shipment', 'payment', 'email', 'reserve', 'shipment'];
    for (const step of steps) {
      const queue = queues.getQueueClient(`${prefix}-order-${step}`);
      await queue.sendMessage(Buffer.from(JSON.stringify({ jobId: body.jobId, step })).toString('base64'));
    }
    await host.waitForLines(new RegExp(`order ${body.jobId} \\w+: skipped \\(succeeded\\)`), steps.length, 30_000);
    assert.deepEqual(await ledger.effects(body.jobId, ['SKU-R']), {
      charges: 1,
      refunds: 0,
      reservations: 1,
      released: 0,
      emails: 1,
      shipments: 1,
    });
    assert.equal(await ledger.stock('SKU-R'), 4);
    assert.equal(smtp.messages.filter((m) => m.subject.includes(body.jobId)).length, 1);
  });

  it('poisons a step that fails every time, records the dead letter, and compensates', async () => {
    await setStock(host, 'SKU-X', 5);
    const { body } = await placeOrder(
      host,
      orderBody({ shippingAddress: { line1: 'Nowhere 1', city: 'Lost', postalCode: '00000', country: 'GB' } }, [
        { sku: 'SKU-X', quantity: 2 },
      ]),
    );
    const job = await waitForJob(host, body.jobId, undefined, 90_000);
    assert.equal(job.status, 'compensated');
    assert.equal(job.error?.code, 'CARRIER_UNAVAILABLE');
    const letters = await getJson<{
      deadLetters: { jobId?: string; body: string; source: { queue?: string }; dequeueCount: number }[];
    }>(host, '/api/deadletters?limit=100', { headers: admin });
    const letter = letters.body.deadLetters.find((d) => d.jobId === body.jobId);
    assert.ok(letter, 'a dead letter for the order');
    assert.equal(letter.source.queue, `${prefix}-order-shipment`);
    assert.deepEqual(JSON.parse(letter.body), { jobId: body.jobId, step: 'shipment', cause: 'next' });
    const effects = await ledger.effects(body.jobId, ['SKU-X']);
    assert.equal(effects.charges, 1);
    assert.equal(effects.refunds, 1, 'the charge was refunded');
    assert.equal(effects.reservations, 0);
    assert.equal(await ledger.stock('SKU-X'), 5);
  });

  it('cancels an order that has not shipped, and refuses once it has', async () => {
    await setStock(host, 'SKU-C', 5);
    const later = new Date(Date.now() + 60_000).toISOString();
    const { body } = await placeOrder(host, orderBody({ notBefore: later }, [{ sku: 'SKU-C', quantity: 1 }]));
    const token = { 'x-cancel-token': body.cancelToken };
    const cancel = await postJson(host, `/api/jobs/${body.jobId}/cancel`, {}, token);
    assert.equal(cancel.status, 202);
    const job = await waitForJob(host, body.jobId);
    assert.equal(job.status, 'cancelled');
    assert.equal(await ledger.stock('SKU-C'), 5);
    assert.equal((await postJson(host, `/api/jobs/${body.jobId}/cancel`, {}, token)).status, 409);

    const shipped = await placeOrder(host, orderBody({}, [{ sku: 'SKU-C', quantity: 1 }]));
    assert.equal((await waitForJob(host, shipped.body.jobId)).status, 'succeeded');
    const refused = await postJson<{ detail: string }>(
      host,
      `/api/jobs/${shipped.body.jobId}/cancel`,
      {},
      {
        'x-cancel-token': shipped.body.cancelToken,
      },
    );
    assert.equal(refused.status, 409);
    assert.match(refused.body.detail, /succeeded|shipped/);
  });

  it('honours Idempotency-Key: same body same job, different body 409', async () => {
    await setStock(host, 'SKU-I', 10);
    const key = uniqueName('key-');
    const first = await placeOrder(host, orderBody({}, [{ sku: 'SKU-I', quantity: 1 }]), { 'idempotency-key': key });
    const again = await placeOrder(host, orderBody({}, [{ sku: 'SKU-I', quantity: 1 }]), { 'idempotency-key': key });
    assert.equal(again.body.jobId, first.body.jobId);
    assert.equal(again.body.cancelToken, first.body.cancelToken, 'a repeat gets the same cancel token');
    const different = await postJson(host, '/api/orders', orderBody({}, [{ sku: 'SKU-I', quantity: 2 }]), {
      'idempotency-key': key,
    });
    assert.equal(different.status, 409);
    assert.equal((await waitForJob(host, first.body.jobId)).status, 'succeeded');
    assert.equal((await ledger.effects(first.body.jobId, ['SKU-I'])).charges, 1);
    assert.equal(await ledger.stock('SKU-I'), 9);
  });

  it('answers on the reply queue and by signed webhook, and refuses internal webhook targets', async () => {
    await setStock(host, 'SKU-W', 10);
    const replyTo = uniqueName('replies-');
    const { body } = await placeOrder(
      host,
      orderBody({ replyTo, callbackUrl: hooks.url() }, [{ sku: 'SKU-W', quantity: 1 }]),
    );
    assert.equal((await waitForJob(host, body.jobId)).status, 'succeeded');
    const reply = await waitFor('the reply message', async () => {
      const queue = storageClients().queues.getQueueClient(replyTo);
      if (!(await queue.exists())) return undefined;
      const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 10 });
      const first = peekedMessageItems[0];
      return first
        ? (JSON.parse(Buffer.from(first.messageText, 'base64').toString()) as Record<string, unknown>)
        : undefined;
    });
    assert.equal(reply['jobId'], body.jobId);
    assert.equal(reply['correlationId'], body.jobId);
    assert.equal(reply['status'], 'succeeded');
    const final = await waitFor('the completion webhook', () =>
      hooks.received.find((w) => w.jobId === body.jobId && w.event === 'job.succeeded'),
    );
    assert.equal(final.verified, true);
    assert.ok(
      hooks.received.filter((w) => w.jobId === body.jobId && w.event === 'job.progress').length >= 3,
      'progress milestones',
    );
    for (const target of [
      'http://169.254.169.254/latest/meta-data',
      'http://10.1.2.3/hook',
      'https://localhost/hook',
      'ftp://example.com/x',
    ]) {
      const refused = await postJson<{ errors: { field: string }[] }>(
        host,
        '/api/orders',
        orderBody({ callbackUrl: target }),
      );
      assert.equal(refused.status, 400, target);
      assert.ok(
        refused.body.errors.some((e) => e.field === 'callbackUrl'),
        target,
      );
    }
    const badQueue = await postJson<{ errors: { field: string }[] }>(
      host,
      '/api/orders',
      orderBody({ replyTo: 'Bad_Queue' }),
    );
    assert.equal(badQueue.status, 400);
    assert.ok(badQueue.body.errors.some((e) => e.field === 'replyTo'));
  });

  it('re-drives an order whose step message was lost', async () => {
    await setStock(host, 'SKU-L', 5);
    const soon = new Date(Date.now() + 3_000).toISOString();
    const { body } = await placeOrder(host, orderBody({ notBefore: soon }, [{ sku: 'SKU-L', quantity: 1 }]));
    // The start message waits invisible until notBefore: lose it.
    await storageClients().queues.getQueueClient(`${prefix}-order-reserve`).clearMessages();
    const job = await waitForJob(host, body.jobId, undefined, 60_000);
    assert.equal(job.status, 'succeeded');
    assert.ok((await events(host, body.jobId)).some((e) => e.kind === 'redriven'));
    assert.equal((await ledger.effects(body.jobId, ['SKU-L'])).charges, 1);
  });

  it('validates every field with a problem naming it, and answers 422 for an unknown SKU', async () => {
    const bad = await postJson<{ errors: { field: string }[] }>(host, '/api/orders', {
      customer: { name: '', email: 'not-an-email' },
      items: [{ sku: 'sku lower', quantity: 0 }],
      payment: { cardNumber: '1234' },
      shippingAddress: { line1: 'x', city: 'y', postalCode: 'z', country: 'Great Britain' },
      priority: 'urgent',
    });
    assert.equal(bad.status, 400);
    const fields = bad.body.errors.map((e) => e.field);
    for (const field of [
      'customer.name',
      'customer.email',
      'items[0].sku',
      'items[0].quantity',
      'payment.cardNumber',
      'shippingAddress.postalCode',
      'shippingAddress.country',
      'priority',
    ]) {
      assert.ok(fields.includes(field), `${field} in ${fields.join(', ')}`);
    }
    const tooLate = await postJson<{ errors: { field: string }[] }>(
      host,
      '/api/orders',
      orderBody({ notBefore: new Date(Date.now() + 8 * 86_400_000).toISOString() }),
    );
    assert.equal(tooLate.status, 400);
    assert.ok(tooLate.body.errors.some((e) => e.field === 'notBefore'));
    const unknown = await postJson<{ errors: { field: string }[] }>(
      host,
      '/api/orders',
      orderBody({}, [{ sku: 'NO-SUCH', quantity: 1 }]),
    );
    assert.equal(unknown.status, 422);
    assert.deepEqual(
      unknown.body.errors.map((e) => e.field),
      ['items[0].sku'],
    );
  });
});

describe('order workflow without SMTP, and priority', () => {
  it('writes the confirmation to the outbox container', async () => {
    const { host, prefix } = await startApp({ env: { DEVHOST_MASTER_KEY: MASTER_KEY, SEED_DEMO_CATALOGUE: 'true' } });
    try {
      const { body } = await placeOrder(host, orderBody({}, [{ sku: 'MUG-1', quantity: 1 }]));
      assert.equal((await waitForJob(host, body.jobId)).status, 'succeeded');
      const eml = await storageClients()
        .blobs.getContainerClient(`${prefix}-outbox`)
        .getBlobClient(`${body.jobId}-confirmation.eml`)
        .downloadToBuffer();
      const text = eml.toString('utf8');
      assert.match(text, new RegExp(`Subject: Your order ${body.jobId}`));
      assert.match(text, /Enamel mug/);
      assert.match(text, /Tracking number: SBX/);
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });

  it('drains high-priority orders ahead of normal ones', async () => {
    const env = { DEVHOST_MASTER_KEY: MASTER_KEY, SEED_DEMO_CATALOGUE: 'false' };
    // First only the HTTP API runs, so orders pile up in their queues.
    const intake = await startApp({ env, args: ['--functions', 'createOrder,putInventory,getJob'] });
    const normal: string[] = [];
    const high: string[] = [];
    try {
      await setStock(intake.host, 'SKU-Q', 100);
      for (let i = 0; i < 6; i++)
        normal.push((await placeOrder(intake.host, orderBody({}, [{ sku: 'SKU-Q', quantity: 1 }]))).body.jobId);
      for (let i = 0; i < 3; i++)
        high.push(
          (await placeOrder(intake.host, orderBody({ priority: 'high' }, [{ sku: 'SKU-Q', quantity: 1 }]))).body.jobId,
        );
    } finally {
      assert.equal(await intake.host.stop(), 0);
    }
    const worker = await startApp({ env, prefix: intake.prefix });
    try {
      const jobs: PublicJob[] = [];
      for (const id of [...high, ...normal]) jobs.push(await waitForJob(worker.host, id, 'succeeded', 60_000));
      const reserved = async (id: string) => {
        const list = await events(worker.host, id);
        const started = (list as { kind: string; message: string; at?: string }[]).find(
          (e) => e.kind === 'step-started',
        );
        return Date.parse(started?.at ?? '');
      };
      const lastHigh = Math.max(...(await Promise.all(high.map(reserved))));
      const firstNormal = Math.min(...(await Promise.all(normal.map(reserved))));
      assert.ok(
        lastHigh <= firstNormal,
        `high-priority orders started by ${new Date(lastHigh).toISOString()}, normal ones from ${new Date(firstNormal).toISOString()}`,
      );
    } finally {
      assert.equal(await worker.host.stop(), 0);
    }
  });
});
