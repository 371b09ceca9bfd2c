import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';

describe('devhost HTTP trigger', () => {
  let host: DevhostProcess;
  before(async () => {
    host = await DevhostProcess.start({ app: 'test/apps/http-app' });
  });
  after(async () => {
    assert.equal(await host.stop(), 0, 'devhost exits cleanly on SIGTERM');
  });

  it('lists functions in the Core Tools format at start', () => {
    assert.ok(host.output.includes('Functions:'));
    assert.ok(host.lines(/^\thello: \[GET,POST\] http:\/\/localhost:\d+\/api\/hello$/).length === 1);
  });

  it('runs a handler through the library and returns its JSON body', async () => {
    const res = await fetch(host.url('/api/hello?name=Ada'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { greeting: string; invocationId: string };
    assert.equal(body.greeting, 'Hello, Ada');
    await host.waitForLine(
      new RegExp(`Executed 'Functions.hello' \\(Succeeded, Id=${body.invocationId}, Duration=\\d+ms\\)`),
    );
    assert.ok(host.lines(/hello called with GET/).length >= 1, 'user log appears between Executing and Executed');
  });

  it('passes the POST body', async () => {
    const res = await fetch(host.url('/api/hello'), { method: 'POST', body: 'Grace' });
    assert.equal(((await res.json()) as { greeting: string }).greeting, 'Hello, Grace');
  });

  it('matches route parameters with constraints and methods', async () => {
    const ok = await fetch(host.url('/api/items/42'));
    assert.deepEqual(await ok.json(), { id: '42' });
    assert.equal((await fetch(host.url('/api/items/abc'))).status, 404, 'int constraint');
    assert.equal((await fetch(host.url('/api/items/42'), { method: 'DELETE' })).status, 404, 'method not allowed');
    assert.equal((await fetch(host.url('/api/nothing-here'))).status, 404);
  });

  it('writes status, headers and cookies from the response', async () => {
    const res = await fetch(host.url('/api/cookies'));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.match(res.headers.get('set-cookie') ?? '', /^c=v; HttpOnly/);
    assert.equal(await res.text(), 'made');
  });

  it('answers 500 and logs the failure when the handler throws', async () => {
    const res = await fetch(host.url('/api/boom'));
    assert.equal(res.status, 500);
    await host.waitForLine(/Executed 'Functions.boom' \(Failed, Id=/);
    await host.waitForLine(/boom from handler/);
  });

  it('does not check keys unless asked, as Core Tools', async () => {
    assert.equal((await fetch(host.url('/api/secret'))).status, 200);
    assert.equal((await fetch(host.url('/api/admin-only'))).status, 200);
  });
});

describe('devhost HTTP trigger with --enforce-keys', () => {
  let host: DevhostProcess;
  const master = 'test-master-key-0123456789abcdef';
  const functionKey = 'test-function-key-0123456789abcdef';
  before(async () => {
    host = await DevhostProcess.start({
      app: 'test/apps/http-app',
      args: ['--enforce-keys'],
      env: { DEVHOST_MASTER_KEY: master, DEVHOST_FUNCTION_KEY: functionKey },
    });
  });
  after(async () => {
    await host.stop();
  });

  it('lets anonymous functions through without a key', async () => {
    assert.equal((await fetch(host.url('/api/hello'))).status, 200);
  });

  it('needs a function or master key for function-level routes', async () => {
    const missing = await fetch(host.url('/api/secret'));
    assert.equal(missing.status, 401);
    assert.equal(await missing.text(), '', 'the host answers 401 with no body');
    assert.equal((await fetch(host.url('/api/secret'), { headers: { 'x-functions-key': 'wrong' } })).status, 401);
    assert.equal((await fetch(host.url(`/api/secret?code=${functionKey}`))).status, 200);
    assert.equal((await fetch(host.url('/api/secret'), { headers: { 'x-functions-key': master } })).status, 200);
  });

  it('needs the master key for admin-level routes and the admin API', async () => {
    assert.equal(
      (await fetch(host.url('/api/admin-only'), { headers: { 'x-functions-key': functionKey } })).status,
      401,
    );
    assert.equal((await fetch(host.url('/api/admin-only'), { headers: { 'x-functions-key': master } })).status, 200);
    assert.equal((await fetch(host.url('/admin/host/status'))).status, 401);
    assert.equal((await fetch(host.url('/admin/host/status'), { headers: { 'x-functions-key': master } })).status, 200);
  });
});
