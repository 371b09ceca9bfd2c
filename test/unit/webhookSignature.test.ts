import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

import { deliverWebhook } from '../../shared/notify/webhookDelivery';
import { signWebhook, verifyWebhookSignature } from '../../shared/notify/webhookSignature';
import { assertWebhookTargetAllowed, type WebhookTargetPolicy } from '../../shared/notify/webhookTarget';

const SECRET = 'unit-secret';
const BODY = JSON.stringify({ id: 'wh_1', event: 'job.succeeded', jobId: 'ord_1', data: {} });

describe('webhook signatures', () => {
  it('verifies a fresh signature and refuses a changed body, a wrong secret and a replayed old timestamp', () => {
    const now = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { ...signWebhook(SECRET, 'wh_1', BODY, now) };
    assert.equal(verifyWebhookSignature(SECRET, headers, BODY).ok, true);
    assert.deepEqual(verifyWebhookSignature(SECRET, headers, `${BODY} `), { ok: false, reason: 'signature-mismatch' });
    assert.deepEqual(verifyWebhookSignature('other', headers, BODY), { ok: false, reason: 'signature-mismatch' });
    const old: Record<string, string> = { ...signWebhook(SECRET, 'wh_1', BODY, now - 3600) };
    assert.deepEqual(verifyWebhookSignature(SECRET, old, BODY), { ok: false, reason: 'timestamp-too-old' });
    assert.equal(verifyWebhookSignature(['rotated-out', SECRET], headers, BODY).ok, true, 'secret rotation');
  });
});

describe('webhook targets', () => {
  const policy: WebhookTargetPolicy = { allowedHosts: ['127.0.0.1'], allowPrivateNetworks: false };
  const resolveTo = (address: string) => () => Promise.resolve([address]);

  it('refuses loopback, private, link-local and metadata addresses, also behind DNS names', async () => {
    for (const url of [
      'https://127.0.0.2/hook',
      'https://10.0.0.5/hook',
      'https://192.168.1.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[fe80::1]/hook',
      'http://example.com/hook',
    ]) {
      await assert.rejects(assertWebhookTargetAllowed(url, policy, resolveTo('93.184.216.34')), Error, url);
    }
    await assert.rejects(
      assertWebhookTargetAllowed('https://internal.example.com/hook', policy, resolveTo('10.1.2.3')),
    );
    await assert.rejects(
      assertWebhookTargetAllowed('https://meta.example.com/hook', policy, resolveTo('169.254.169.254')),
    );
  });

  it('allows a public https host, and an explicitly allowed host over http', async () => {
    const target = await assertWebhookTargetAllowed('https://hooks.example.com/x', policy, resolveTo('93.184.216.34'));
    assert.equal(target.address, '93.184.216.34');
    const local = await assertWebhookTargetAllowed('http://127.0.0.1:8080/x', policy, resolveTo('127.0.0.1'));
    assert.equal(local.explicitlyAllowed, true);
  });
});

describe('webhook delivery', () => {
  const policy: WebhookTargetPolicy = { allowedHosts: ['127.0.0.1'], allowPrivateNetworks: false };

  async function server(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<{ url: string; close: () => Promise<void> }> {
    const srv = createServer(handler);
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/hook`,
      close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
    };
  }

  it('signs what it sends, and does not follow a redirect to an internal address', async () => {
    const received: Record<string, string | string[] | undefined>[] = [];
    const ok = await server((req, res) => {
      received.push(req.headers);
      req.resume();
      res.writeHead(204).end();
    });
    const redirect = await server((req, res) => {
      req.resume();
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data' }).end();
    });
    try {
      const delivered = await deliverWebhook(
        { url: ok.url, webhookId: 'wh_1', body: BODY },
        { policy, signingSecret: SECRET },
      );
      assert.equal(delivered.statusCode, 204);
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(received[0] ?? {})) if (typeof value === 'string') headers[key] = value;
      assert.equal(verifyWebhookSignature(SECRET, headers, BODY).ok, true, 'the receiver can verify it');
      await assert.rejects(
        deliverWebhook({ url: redirect.url, webhookId: 'wh_2', body: BODY }, { policy, signingSecret: SECRET }),
        /169\.254|link-local|metadata|not allowed|refused/i,
      );
    } finally {
      await ok.close();
      await redirect.close();
    }
  });
});
