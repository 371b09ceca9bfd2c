import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { freePort } from '../support/freePort';
import { templateAppDir } from '../support/templateApp';
import { waitFor } from '../support/wait';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw request bytes (so tests can send what fetch refuses to) and reads the first response. */
function rawRequest(port: number, head: string, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...lines] = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (data.length - end - 4 < length) return;
      socket.destroy();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: data.slice(end + 4, end + 4 + length) });
    });
    socket.on('error', reject);
    socket.write(head);
    if (body !== undefined) socket.write(body);
  });
}

function assertEmpty(response: Response | RawResponse, body: string, status: number): void {
  assert.equal(response.status, status);
  assert.equal(body, '', `status ${status} has no body`);
  const contentType =
    response instanceof Response ? response.headers.get('content-type') : response.headers['content-type'];
  assert.equal(contentType ?? null, null, `status ${status} has no content type`);
}

describe("devhost's own responses match the host's", () => {
  let appDir: string;
  let host: DevhostProcess;

  before(async () => {
    appDir = await templateAppDir();
    host = await DevhostProcess.start({ app: appDir, env: { FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '1024' } });
  });
  after(async () => {
    await host.stop();
  });

  it('answers a route no function serves with 404 and an empty body', async () => {
    for (const pathname of ['/api/nothing-here', '/elsewhere', '/api', '/admin/nothing']) {
      const res = await fetch(host.url(pathname));
      assertEmpty(res, await res.text(), 404);
      assert.equal(res.headers.get('content-length'), '0');
    }
  });

  it('answers a method the function does not take with 404, as the host routes by method', async () => {
    const res = await fetch(host.url('/api/throwing'), { method: 'DELETE' });
    assertEmpty(res, await res.text(), 404);
  });

  it('answers 500 with an empty body when the function throws', async () => {
    const res = await fetch(host.url('/api/throwing'));
    assertEmpty(res, await res.text(), 500);
    await host.waitForLine(/Executed 'Functions.throwing' \(Failed/);
    // The connection and the host are fine afterwards.
    assert.equal(await (await fetch(host.url('/api/httpTrigger1?name=after'))).text(), 'Hello, after!');
  });

  it('refuses a body over the limit from its Content-Length, before reading it, and a chunked one as it arrives', async () => {
    // Headers only: the body is never sent, so an answer proves the host did not wait to read it.
    const declared = await rawRequest(
      host.port,
      'POST /api/httpTrigger1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n',
    );
    assertEmpty(declared, declared.body, 413);
    assert.equal(declared.headers['connection'], 'close');

    const chunk = 'x'.repeat(800);
    const chunked = await rawRequest(
      host.port,
      'POST /api/httpTrigger1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n',
      `${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assertEmpty(chunked, chunked.body, 413);

    const within = await fetch(host.url('/api/httpTrigger1'), { method: 'POST', body: 'y'.repeat(1000) });
    assert.equal(await within.text(), `Hello, ${'y'.repeat(1000)}!`);
  });

  it('answers crafted input with 4xx, never 500', async () => {
    for (const pathname of ['/api/%zz', '/api/httpTrigger1/%E0%A4%A', '/%', '/api/row/%/x']) {
      const res = await rawRequest(
        host.port,
        `GET ${pathname} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      assert.ok(res.status >= 400 && res.status < 500, `${pathname}: ${res.status}`);
    }
    const admin = await rawRequest(
      host.port,
      'POST /admin/functions/%zz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assertEmpty(admin, admin.body, 404);
    const spaces = await rawRequest(
      host.port,
      'GET /api/httpTrigger1 HTTP/1.1\r\nHost: bad host name\r\nConnection: close\r\n\r\n',
    );
    assertEmpty(spaces, spaces.body, 400);
  });

  it("reports the host's status fields on /admin/host/status", async () => {
    const res = await fetch(host.url('/admin/host/status'));
    assert.equal(res.status, 200);
    const status = (await res.json()) as Record<string, unknown>;
    assert.equal(status['state'], 'Running');
    assert.match(String(status['version']), /^4\.\d+\.\d+$/);
    assert.equal(typeof status['id'], 'string');
    assert.equal(typeof status['instanceId'], 'string');
  });
});

describe('devhost before the host is ready', () => {
  it('holds requests that arrive while the app loads, then answers them', async () => {
    const appDir = await templateAppDir();
    const port = await freePort();
    const host = await DevhostProcess.start({
      app: appDir,
      args: ['--port', String(port)],
      env: { APP_START_DELAY_MS: '3000' },
      waitForStart: false,
    });
    try {
      // The port answers as soon as devhost listens, long before the app has loaded.
      const early = await waitFor(
        'devhost to accept connections',
        () => fetch(`http://127.0.0.1:${port}/api/httpTrigger1?name=early`),
        20_000,
      );
      assert.equal(host.lines(/Host started/).length > 0, true, 'answered only once the host was running');
      assert.equal(await early.text(), 'Hello, early!');
    } finally {
      await host.stop();
    }
  });

  it("answers 503 'Function host is not running.' when the host is not ready in time", async () => {
    const appDir = await templateAppDir();
    const port = await freePort();
    const host = await DevhostProcess.start({
      app: appDir,
      args: ['--port', String(port)],
      env: { APP_START_DELAY_MS: '8000', DEVHOST_HOST_READY_TIMEOUT_MS: '500' },
      waitForStart: false,
    });
    try {
      const early = await waitFor(
        'devhost to accept connections',
        () => fetch(`http://127.0.0.1:${port}/api/httpTrigger1`),
        20_000,
      );
      assert.equal(early.status, 503);
      assert.equal(await early.text(), 'Function host is not running.');
      assert.equal(host.lines(/Host started/).length, 0);
      await host.waitForLine(/Host started/, 30_000);
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/httpTrigger1`)).status, 200);
    } finally {
      await host.stop();
    }
  });
});
