import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { CARDS, orderBody } from '../support/orderFixtures';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';
import { FULL } from './workload';

const MASTER_KEY = 'fuzz-master-key-0123456789';
const FUNCTION_KEY = 'fuzz-function-key-0123456789';
const RUNS = FULL ? 3000 : 300;

interface Outcome {
  status: number;
  contentType: string;
  bodyLength: number;
}

async function send(
  host: DevhostProcess,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const response = await fetch(host.url(path), {
    method,
    headers: { 'x-functions-key': MASTER_KEY, ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  const bytes = await response.arrayBuffer();
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    bodyLength: bytes.byteLength,
  };
}

/** Any JSON-ish value, biased towards the shapes the API expects so the fuzz reaches deep validation. */
const jsonValue = fc.oneof(
  fc.jsonValue(),
  fc.record({
    customer: fc.oneof(fc.record({ name: fc.string(), email: fc.string() }), fc.jsonValue()),
    items: fc.oneof(
      fc.array(fc.record({ sku: fc.string(), quantity: fc.oneof(fc.integer(), fc.double(), fc.string()) })),
      fc.jsonValue(),
    ),
    payment: fc.oneof(
      fc.record({ cardNumber: fc.oneof(fc.string(), fc.constantFrom(CARDS.ok, CARDS.declined)) }),
      fc.jsonValue(),
    ),
    shippingAddress: fc.jsonValue(),
    priority: fc.oneof(fc.constantFrom('normal', 'high'), fc.string()),
    replyTo: fc.string(),
    callbackUrl: fc.oneof(fc.webUrl(), fc.string()),
    notBefore: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
    ),
  }),
  fc.record({
    fileName: fc.oneof(fc.string(), fc.constantFrom('../x.png', 'a/b.png', 'ok.png', '<b>.png')),
    contentType: fc.string(),
  }),
);

const problems: string[] = [];

function check(what: string, outcome: Outcome): void {
  if (outcome.status >= 500) problems.push(`${what} → ${outcome.status}`);
  else if (
    outcome.status >= 400 &&
    outcome.status !== 401 &&
    // The host's own 404 for a path no function's route matches (e.g. an empty route segment) has no body.
    !(outcome.status === 404 && outcome.bodyLength === 0) &&
    !outcome.contentType.startsWith('application/problem+json')
  ) {
    problems.push(`${what} → ${outcome.status} with ${outcome.contentType}`);
  }
}

describe('chaos: bad input and attack', () => {
  let host: DevhostProcess;
  let prefix: string;

  before(async () => {
    ({ host, prefix } = await startApp({
      env: {
        DEVHOST_MASTER_KEY: MASTER_KEY,
        DEVHOST_FUNCTION_KEY: FUNCTION_KEY,
        SEED_DEMO_CATALOGUE: 'true',
        WEBHOOK_SIGNING_SECRET: 'fuzz-webhook-secret-of-32-characters',
        SMTP_URL: 'smtp://user:smtp-password-secret@127.0.0.1:9',
      },
      args: ['--enforce-keys'],
    }));
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it(`answers ${RUNS} generated bodies per endpoint with no 5xx, every rejection a problem+json`, async () => {
    const endpoints: [string, string][] = [
      ['POST', '/api/orders'],
      ['POST', '/api/uploads'],
      ['POST', '/api/batch/nightly/run'],
      ['PUT', '/api/inventory/MUG-1'],
      ['POST', '/api/exports'],
    ];
    for (const [method, path] of endpoints) {
      await fc.assert(
        fc.asyncProperty(jsonValue, fc.boolean(), async (value, asJson) => {
          const body = JSON.stringify(value) ?? 'null';
          const outcome = await send(host, method, path, body, {
            'content-type': asJson ? 'application/json' : 'text/plain',
          });
          check(`${method} ${path} ${body.slice(0, 80)}`, outcome);
          return outcome.status < 500;
        }),
        { numRuns: RUNS },
      );
    }
    assert.deepEqual(problems, []);
  });

  it('answers generated query strings and route parameters with no 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), fc.string(), async (type, status, limit) => {
        const query = new URLSearchParams({ type, status, limit, continuationToken: type });
        const outcomes = await Promise.all([
          send(host, 'GET', `/api/jobs?${query.toString()}`),
          send(host, 'GET', `/api/jobs/${encodeURIComponent(type)}`),
          send(host, 'GET', `/api/jobs/${encodeURIComponent(type)}/events`),
          send(host, 'POST', `/api/jobs/${encodeURIComponent(type)}/cancel`, '{}', {
            'content-type': 'application/json',
          }),
          send(host, 'GET', `/api/deadletters?${new URLSearchParams({ state: status, limit }).toString()}`),
          send(host, 'POST', `/api/deadletters/${encodeURIComponent(status)}/replay`, '{}', {
            'content-type': 'application/json',
          }),
          send(host, 'GET', `/api/inventory/${encodeURIComponent(status)}`),
          send(host, 'GET', `/api/thumbnails/128/${encodeURIComponent(type)}`),
          send(host, 'GET', `/api/reports/daily/${encodeURIComponent(type)}`),
          send(host, 'GET', `/api/reports/daily?days=${encodeURIComponent(limit)}`),
        ]);
        outcomes.forEach((outcome, i) => check(`query/route #${i} ${JSON.stringify([type, status, limit])}`, outcome));
        return outcomes.every((o) => o.status < 500);
      }),
      { numRuns: Math.round(RUNS / 3) },
    );
    assert.deepEqual(problems, []);
  });

  it('answers crafted route parameters (inherited property names too) and continuation tokens with no 5xx', async () => {
    // Names an object literal would find on its prototype: a lookup table keyed by request input must not see them.
    const inherited = fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype), 'prototype', '__defineGetter__');
    const segment = fc.oneof(fc.string(), inherited);
    await fc.assert(
      fc.asyncProperty(segment, async (name) => {
        const encoded = encodeURIComponent(name);
        const outcomes = await Promise.all([
          send(host, 'GET', `/api/dashboard/${encoded}`),
          send(host, 'GET', `/api/jobs/${encoded}`),
          send(host, 'GET', `/api/deadletters/${encoded}`),
          send(host, 'GET', `/api/inventory/${encoded}`),
          send(host, 'GET', `/api/reports/daily/${encoded}`),
          send(host, 'GET', `/api/thumbnails/128/${encoded}`),
        ]);
        outcomes.forEach((outcome, i) => check(`route #${i} ${JSON.stringify(name)}`, outcome));
        return outcomes.every((o) => o.status < 500);
      }),
      { numRuns: Math.round(RUNS / 3) },
    );
    // Tokens alone, the other parameters valid, so the token is what gets parsed: random text, base64 of random JSON.
    const token = fc.oneof(
      fc.string({ minLength: 1 }),
      fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64')),
      fc
        .record({ nextPartitionKey: fc.string(), nextRowKey: fc.string() })
        .map((value) => Buffer.from(JSON.stringify(value)).toString('base64')),
    );
    await fc.assert(
      fc.asyncProperty(token, async (continuationToken) => {
        const query = new URLSearchParams({ continuationToken }).toString();
        const outcomes = await Promise.all([
          send(host, 'GET', `/api/jobs?${query}`),
          send(host, 'GET', `/api/deadletters?${query}`),
        ]);
        outcomes.forEach((outcome, i) =>
          check(`continuationToken #${i} ${JSON.stringify(continuationToken)}`, outcome),
        );
        return outcomes.every((o) => o.status < 500);
      }),
      { numRuns: Math.round(RUNS / 3) },
    );
    assert.deepEqual(problems, []);
  });

  it('refuses oversized bodies and queue messages clearly, and survives malformed messages on every queue', async () => {
    const big = JSON.stringify(orderBody({ note: 'x'.repeat(70 * 1024) }));
    const response = await send(host, 'POST', '/api/orders', big, { 'content-type': 'application/json' });
    assert.equal(response.status, 413);
    assert.match(response.contentType, /application\/problem\+json/);
    const queues = storageClients().queues;
    const targets = [
      'order-reserve',
      'order-payment',
      'order-shipment',
      'order-email',
      'order-compensate',
      'webhooks',
      'nightly-run',
      'exports',
    ];
    const samples = fc.sample(
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
      ),
      FULL ? 200 : 30,
    );
    let sent = 0;
    for (const [i, text] of samples.entries()) {
      const queue = queues.getQueueClient(`${prefix}-${targets[i % targets.length] ?? 'order-reserve'}`);
      await queue.createIfNotExists();
      await queue.sendMessage(Buffer.from(text).toString('base64'));
      sent++;
    }
    // Not base64 at all: the host moves it to the poison queue, and the app records it.
    await queues.getQueueClient(`${prefix}-order-payment`).sendMessage('%%% not base64 %%%');
    await waitFor(
      'the queues to drain',
      async () => {
        for (const target of targets) {
          const properties = await queues.getQueueClient(`${prefix}-${target}`).getProperties();
          if ((properties.approximateMessagesCount ?? 0) > 0) return undefined;
        }
        return true;
      },
      FULL ? 240_000 : 90_000,
      1000,
    );
    assert.ok(sent > 0);
    const health = await send(host, 'GET', '/api/health');
    assert.ok(health.status === 200 || health.status === 503, 'the host still answers');
    assert.equal(host.lines(/Unhandled|uncaught/i).length, 0, 'no crash');
  });

  it('refuses anonymous, function-level and wrong keys on every admin route', async () => {
    const adminRoutes: [string, string][] = [
      ['GET', '/api/deadletters'],
      ['GET', '/api/deadletters/dl_0000000000000_AAAAAAAAAAAAAAAA'],
      ['POST', '/api/deadletters/dl_0000000000000_AAAAAAAAAAAAAAAA/replay'],
      ['DELETE', '/api/deadletters/dl_0000000000000_AAAAAAAAAAAAAAAA'],
      ['POST', '/api/batch/nightly/run'],
      ['PUT', '/api/inventory/MUG-1'],
      ['GET', '/api/jobs'],
      ['GET', '/api/queues'],
      ['GET', '/api/reports/daily'],
      ['GET', '/api/reports/daily/2026-01-01.json'],
      ['GET', '/api/jobs/ord_AAAAAAAAAAAAAAAAAAAAAA/events'],
      ['POST', '/api/manage/jobs/ord_AAAAAAAAAAAAAAAAAAAAAA/cancel'],
      ['POST', '/api/exports'],
      ['GET', '/api/exports/exp_AAAAAAAAAAAAAAAAAAAAAA/file'],
      ['POST', '/api/exports/exp_AAAAAAAAAAAAAAAAAAAAAA/cancel'],
      ['GET', '/admin/host/status'],
      ['POST', '/admin/functions/orderSupervisor'],
    ];
    for (const [method, path] of adminRoutes) {
      const callers: Record<string, string>[] = [
        {},
        { 'x-functions-key': FUNCTION_KEY },
        { 'x-functions-key': `${MASTER_KEY}x` },
      ];
      for (const headers of callers) {
        const response = await fetch(host.url(path), {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          ...(method === 'GET' ? {} : { body: '{}' }),
        });
        assert.equal(response.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
      }
    }
  });

  it('writes no key, connection string, card number, SMTP password or email address to its logs', async () => {
    const order = await fetch(host.url('/api/orders'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(orderBody({}, [{ sku: 'MUG-1', quantity: 1 }])),
    });
    assert.equal(order.status, 202);
    const { jobId } = (await order.json()) as { jobId: string };
    await waitFor(
      'the order to reach the email step',
      () => host.lines(new RegExp(`order ${jobId} shipment: done`))[0],
      30_000,
    );
    const log = host.output.join('\n');
    const accountKey = /AccountKey=([^;]+)/.exec(process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '')?.[1] ?? 'no-key';
    for (const secret of [
      MASTER_KEY,
      FUNCTION_KEY,
      accountKey,
      CARDS.ok,
      CARDS.declined,
      'smtp-password-secret',
      'fuzz-webhook-secret-of-32-characters',
      'ada@example.com',
    ]) {
      assert.ok(!log.includes(secret), `the log contains ${secret.slice(0, 6)}…`);
    }
    // Stored, a card is its last four digits only.
    const jobs = storageClients().table(`${prefix}jobs`);
    for await (const entity of jobs.listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq '${jobId}'` },
    })) {
      assert.ok(!JSON.stringify(entity).includes(CARDS.ok), 'no card number in the job record');
    }
  });
});
