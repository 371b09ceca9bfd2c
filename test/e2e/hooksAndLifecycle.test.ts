import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { uniqueName } from '../support/storage';

describe('devhost hooks', () => {
  it('runs appStart, pre/postInvocation and appTerminate hooks with writable contexts', async () => {
    const host = await DevhostProcess.start({ app: 'test/apps/hooks-app' });
    try {
      assert.ok(host.lines(/HOOK appStart/).length === 1, 'appStart ran once before the host started');

      const wrapped = await fetch(host.url('/wrapped'));
      assert.equal(await wrapped.text(), 'inner');
      assert.equal(wrapped.headers.get('x-wrapped'), 'by-pre-hook', 'preInvocation replaced the handler');
      await host.waitForLine(/HOOK postInvocation wrapped pre=true error=none/);

      const rescued = await fetch(host.url('/rescued'));
      assert.equal(rescued.status, 200, 'postInvocation cleared the error and set the result');
      assert.equal(await rescued.text(), 'rescued by post hook');
      await host.waitForLine(/HOOK postInvocation rescued pre=true error=fails before the post hook/);
    } finally {
      assert.equal(await host.stop(), 0);
    }
    assert.equal(host.lines(/HOOK appTerminate/).length, 1, 'appTerminate ran at stop');
  });

  it('finishes an HTTP request in flight during a graceful stop', async () => {
    const host = await DevhostProcess.start({ app: 'test/apps/hooks-app' });
    const inFlight = fetch(host.url('/slow?ms=1500'));
    await host.waitForLine(/Executing 'Functions.slow'/);
    const exit = host.stop();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'slept 1500');
    assert.equal(await exit, 0);
    assert.ok(host.lines(/Executed 'Functions.slow' \(Succeeded/).length === 1);
  });
});

describe('devhost host.json overrides', () => {
  it('applies AzureFunctionsJobHost__ app settings over host.json, as the host does', async () => {
    // hooks-app's host.json sets an empty route prefix; the setting moves its routes under /custom.
    const host = await DevhostProcess.start({
      app: 'test/apps/hooks-app',
      env: { AzureFunctionsJobHost__extensions__http__routePrefix: 'custom' },
    });
    try {
      const moved = await fetch(host.url('/custom/wrapped'));
      assert.equal(moved.status, 200);
      assert.equal(await moved.text(), 'inner');
      assert.equal((await fetch(host.url('/wrapped'))).status, 404, "the file's prefix no longer applies");
    } finally {
      await host.stop();
    }
  });

  it('applies them from local.settings.json Values too, as Core Tools puts those in the environment', async () => {
    // A copy inside the repo, so the app still resolves @azure/functions from the repo's node_modules.
    const repo = path.resolve(__dirname, '..', '..', '..');
    const appDir = path.join(repo, 'test-output', `hooks-app-${randomBytes(4).toString('hex')}`);
    await cp(path.join(repo, 'test', 'apps', 'hooks-app'), appDir, { recursive: true });
    try {
      await writeFile(
        path.join(appDir, 'local.settings.json'),
        JSON.stringify({
          IsEncrypted: false,
          Values: { FUNCTIONS_WORKER_RUNTIME: 'node', AzureFunctionsJobHost__extensions__http__routePrefix: 'local' },
        }),
      );
      const host = await DevhostProcess.start({ app: appDir });
      try {
        const moved = await fetch(host.url('/local/wrapped'));
        assert.equal(moved.status, 200);
        assert.equal(await moved.text(), 'inner');
      } finally {
        await host.stop();
      }
    } finally {
      await rm(appDir, { recursive: true, force: true });
    }
  });

  it('stops with one line naming the app setting whose value is invalid', async () => {
    const host = await DevhostProcess.start({
      app: 'test/apps/hooks-app',
      env: { AzureFunctionsJobHost__extensions__queues__batchSize: 'lots' },
      waitForStart: false,
    });
    assert.equal(await host.exited, 1);
    assert.deepEqual(
      host.output.filter((line) => line.trim() !== ''),
      [
        'devhost: app setting AzureFunctionsJobHost__extensions__queues__batchSize must be an integer from 1 to 32, got "lots"',
      ],
    );
  });
});

describe('devhost log levels', () => {
  it('filters lines by host.json logging.logLevel categories, here set by an app setting', async () => {
    const host = await DevhostProcess.start({
      app: 'test/apps/http-app',
      env: { AzureFunctionsJobHost__logging__logLevel__Function: 'Warning' },
    });
    try {
      const hello = await fetch(host.url('/api/hello?name=quiet'));
      assert.equal(hello.status, 200);
      assert.equal(((await hello.json()) as { greeting: string }).greeting, 'Hello, quiet');
      assert.equal((await fetch(host.url('/api/boom'))).status, 500);
      // Errors in the Function category still show; written after hello's lines would have been.
      await host.waitForLine(/Executed 'Functions\.boom' \(Failed/);
      assert.deepEqual(host.lines(/Functions\.hello|hello called with/), [], 'Information lines of Function.* hidden');
      assert.equal(host.lines(/Host started/).length, 1, 'host lines keep the default level');
    } finally {
      await host.stop();
    }
  });

  it("gives host lines the host's categories: Host.Triggers.Timer and Host.Startup each filter their own lines", async () => {
    const host = await DevhostProcess.start({
      app: 'test/apps/timer-app',
      args: ['--functions', 'startup'],
      env: {
        AzureFunctionsWebHost__hostid: uniqueName('log-'),
        'AzureFunctionsJobHost__logging__logLevel__Host.Triggers.Timer': 'Warning',
        'AzureFunctionsJobHost__logging__logLevel__Host.Startup': 'None',
      },
      // "Host started" is a Host.Startup line: hidden here.
      waitForStart: false,
    });
    try {
      // runOnStartup: the function runs after its schedule line would have been written, and the host lock line
      // comes after "Host started" would have.
      await host.waitForLine(/STARTUP \{/);
      await host.waitForLine(/Host lock lease acquired by instance ID/);
      assert.deepEqual(host.lines(/The next 5 occurrences/), [], 'Host.Triggers.Timer at Warning hides schedule lines');
      assert.deepEqual(host.lines(/Host started/), [], 'Host.Startup at None hides the start-up lines');
      assert.equal(host.lines(/Worker process started and initialized\./).length, 1, 'worker lines keep the default');
      assert.equal(host.lines(/Executing 'Functions\.startup'/).length, 1, 'function lines keep the default');
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });
});

describe('devhost HTTP streaming', () => {
  it('proxies requests to the library HTTP server when the app enables streaming', async () => {
    const host = await DevhostProcess.start({ app: 'test/apps/stream-app' });
    try {
      const payload = Buffer.alloc(3 * 1024 * 1024, 7);
      const upload = await fetch(host.url('/api/upload'), { method: 'POST', body: payload });
      assert.equal(upload.status, 200);
      assert.deepEqual(await upload.json(), { bytes: payload.length, id: null });

      const countdown = await fetch(host.url('/api/countdown'));
      assert.equal(await countdown.text(), '3\n2\n1\nliftoff\n');
    } finally {
      await host.stop();
    }
  });
});

describe('devhost start-up errors', () => {
  it('stops with one clear line for a bad host.json', async () => {
    const host = await DevhostProcess.start({ app: 'test/apps/bad-host-app', waitForStart: false });
    assert.equal(await host.exited, 1);
    assert.ok(
      host.lines(/^devhost: host.json: extensions.queues.batchSize must be an integer from 1 to 32, got 100$/)
        .length === 1,
      host.output.join('\n'),
    );
  });

  it('stops with one clear line for an unknown --functions name', async () => {
    const host = await DevhostProcess.start({
      app: 'test/apps/http-app',
      args: ['--functions', 'nope'],
      waitForStart: false,
    });
    assert.equal(await host.exited, 1);
    assert.ok(
      host.lines(/^devhost: --functions names unknown function\(s\): nope$/).length === 1,
      host.output.join('\n'),
    );
  });

  it('stops with one clear line when storage is unreachable', async () => {
    const host = await DevhostProcess.start({
      app: 'test/apps/http-app',
      env: {
        AzureWebJobsStorage:
          'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
      },
      waitForStart: false,
    });
    assert.equal(await host.exited, 1);
    assert.ok(
      host.lines(/^devhost: Storage account "devstoreaccount1" is unreachable \(blob service: /).length === 1,
      host.output.join('\n'),
    );
  });
});
