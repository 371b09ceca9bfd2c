import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { HttpResponse } from '@azure/functions';
import { SASProtocol } from '@azure/storage-blob';

import { cancelTokenMatches, newCancelToken } from '../../shared/access/cancelToken';
import { dashboardAsset, dashboardCsp } from '../../shared/dashboard/dashboardAssets';
import { apiUrlUnder } from '../../shared/http/apiRoutes';
import { continuationTokenSchema } from '../../shared/http/continuationToken';
import { withSecurityHeaders } from '../../shared/http/securityHeaders';
import { plainText } from '../../shared/orders/orderRequest';
import { replyQueueProblem } from '../../shared/orders/replyQueue';
import { resourceNames } from '../../shared/storage/resourceNames';
import { sasProtocolFor } from '../../shared/storage/sasProtocol';

describe('cancel tokens', () => {
  it('match only the stored token; a job without one matches nothing', () => {
    const token = newCancelToken();
    assert.equal(cancelTokenMatches(token, token), true);
    assert.equal(cancelTokenMatches(token, `${token}x`), false);
    assert.equal(cancelTokenMatches(token, newCancelToken()), false);
    assert.equal(cancelTokenMatches(token, null), false);
    assert.equal(cancelTokenMatches(undefined, ''), false);
    assert.equal(cancelTokenMatches(undefined, 'anything'), false);
  });
});

describe('public URLs', () => {
  it('are relative without PUBLIC_BASE_URL and under it with one', () => {
    assert.equal(apiUrlUnder(undefined, 'jobs/a'), '/api/jobs/a');
    assert.equal(apiUrlUnder('https://jobs.example.com', 'jobs/a'), 'https://jobs.example.com/api/jobs/a');
    assert.equal(apiUrlUnder('https://example.com/bg', 'jobs/a'), 'https://example.com/bg/api/jobs/a');
  });
});

describe('crafted input', () => {
  it('finds no dashboard file under an inherited property name', async () => {
    for (const name of Object.getOwnPropertyNames(Object.prototype)) {
      assert.equal(await dashboardAsset(name), undefined, name);
    }
    assert.ok(await dashboardAsset('app.js'));
  });

  it('accepts only continuation tokens the table SDK produces', () => {
    const real = Buffer.from(JSON.stringify({ nextPartitionKey: 'idx-all', nextRowKey: '0001-x' })).toString('base64');
    assert.equal(continuationTokenSchema.safeParse(real).success, true);
    for (const bad of ['abc', '%%%', Buffer.from('[]').toString('base64'), Buffer.from('{}').toString('base64')]) {
      assert.equal(continuationTokenSchema.safeParse(bad).success, false, bad);
    }
  });

  it('refuses control characters and line separators in free text', () => {
    const text = plainText(1, 50);
    assert.equal(text.safeParse('Zoë Ångström-Núñez').success, true);
    for (const bad of ['a\nb', 'a\rb', 'a\tb', 'a\u0000b', 'a\u007fb', 'a\u0085b', 'a\u2028b', 'a\u2029b']) {
      assert.equal(text.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('allows reply queues under the prefix only, and none of the app or host queues', () => {
    const names = resourceNames('p1');
    assert.equal(replyQueueProblem('replies-abc', 'replies-', names), undefined);
    for (const queue of ['p1-order-compensate', 'order-compensate', 'webjobs-blobtrigger-poison', 'replies-x-poison']) {
      assert.ok(replyQueueProblem(queue, 'replies-', names), queue);
    }
    // Even a prefix that happens to cover the app's queues does not open them.
    assert.ok(replyQueueProblem('p1-order-compensate', 'p1-', names));
  });
});

describe('response headers', () => {
  it('add nosniff to every response shape and keep what the function set', () => {
    const asRecord = withSecurityHeaders({ status: 200, headers: { 'content-type': 'text/plain' } }) as {
      headers: Record<string, string>;
    };
    assert.equal(asRecord.headers['x-content-type-options'], 'nosniff');
    assert.equal(asRecord.headers['content-type'], 'text/plain');
    const noHeaders = withSecurityHeaders({ status: 204 }) as { headers: Record<string, string> };
    assert.equal(noHeaders.headers['x-content-type-options'], 'nosniff');
    const pairs = withSecurityHeaders({ headers: [['x-a', '1']] }) as { headers: Record<string, string> };
    assert.deepEqual(pairs.headers, { 'x-a': '1', 'x-content-type-options': 'nosniff' });
    const response = withSecurityHeaders(new HttpResponse({ status: 200 })) as HttpResponse;
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  });

  it('give the dashboard a CSP without <base> and with forms to the app only', () => {
    const csp = dashboardCsp('https://acct.blob.core.windows.net/');
    assert.match(csp, /base-uri 'none'/);
    assert.match(csp, /form-action 'self'/);
    assert.match(csp, /connect-src 'self' https:\/\/acct\.blob\.core\.windows\.net;/);
  });

  it('make upload SAS URLs https-only whenever the blob endpoint is https', () => {
    assert.equal(sasProtocolFor('https://acct.blob.core.windows.net/uploads/x.png'), SASProtocol.Https);
    assert.equal(sasProtocolFor('http://127.0.0.1:10000/devstoreaccount1/uploads/x.png'), SASProtocol.HttpsAndHttp);
  });
});
