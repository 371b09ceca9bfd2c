import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

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
