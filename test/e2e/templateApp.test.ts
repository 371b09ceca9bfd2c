import assert from 'node:assert/strict';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';

import { DevhostProcess } from '../support/devhostProcess';
import { storageClients, uniqueName } from '../support/storage';
import { templateAppDir } from '../support/templateApp';

/** A GET from a given local address, so the host sees a caller that is (or is not) on loopback. */
function getFrom(
  localAddress: string,
  host: string,
  port: number,
  pathname: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: pathname, localAddress, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function externalIPv4(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((info) => info && info.family === 'IPv4' && !info.internal)?.address;
  assert.ok(address, 'this test needs a non-loopback IPv4 interface to call from');
  return address;
}

describe("devhost runs Microsoft's v4 TypeScript template unmodified", () => {
  let appDir: string;
  let host: DevhostProcess;
  const clients = storageClients();

  before(async () => {
    appDir = await templateAppDir();
    host = await DevhostProcess.start({ app: appDir });
  });
  after(async () => {
    await host.stop();
  });

  it("loads every file the brace glob in main names and serves the template's function", async () => {
    assert.equal(host.lines(/Worker was unable to load entry point/).length, 0, host.output.join('\n'));
    for (const name of ['httpTrigger1', 'tableRow', 'tableFirstTwo', 'tableBlue', 'throwing', 'adminOnly']) {
      assert.equal(host.lines(new RegExp(`^\\t${name}: \\[`)).length, 1, `${name} listed`);
    }
    const res = await fetch(host.url('/api/httpTrigger1?name=devhost'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello, devhost!');
    const posted = await fetch(host.url('/api/httpTrigger1'), { method: 'POST', body: 'poster' });
    assert.equal(await posted.text(), 'Hello, poster!');
  });

  it('binds table rows exactly as the Tables extension shapes them', async () => {
    const name = uniqueName('tpl').replace(/-/g, '');
    const table = clients.table(name);
    await table.createTable();
    await table.createEntity({
      partitionKey: 'p1',
      rowKey: 'r1',
      Colour: 'blue',
      Count: 7,
      Ratio: 1.5,
      Big: { value: '9007199254740993', type: 'Int64' },
      When: new Date('2024-01-02T03:04:05.120Z'),
      Ok: true,
      Id: { value: '6f9619ff-8b86-d011-b42d-00c04fc964ff', type: 'Guid' },
      Bytes: new Uint8Array([1, 2, 3]),
    });
    await table.createEntity({ partitionKey: 'p1', rowKey: 'r2', Colour: 'red' });
    await table.createEntity({ partitionKey: 'p1', rowKey: 'r3', Colour: 'blue' });
    await table.createEntity({ partitionKey: 'p2', rowKey: 'r1', Colour: 'blue' });

    const one = await fetch(host.url(`/api/row/${name}/p1/r1`));
    assert.equal(one.status, 200);
    // The worker JSON.parses what the host sends: Int64 arrives as a number (precision as JSON.parse gives it).
    assert.deepEqual(await one.json(), {
      row: {
        PartitionKey: 'p1',
        RowKey: 'r1',
        Colour: 'blue',
        Count: 7,
        Ratio: 1.5,
        Big: JSON.parse('9007199254740993') as number,
        When: '2024-01-02T03:04:05.12+00:00',
        Ok: true,
        Id: '6f9619ff-8b86-d011-b42d-00c04fc964ff',
        Bytes: 'AQID',
      },
    });

    const missing = await fetch(host.url(`/api/row/${name}/p1/absent`));
    assert.deepEqual(await missing.json(), { row: null });

    const firstTwo = (await (await fetch(host.url(`/api/rows/${name}/p1`))).json()) as {
      rows: Record<string, unknown>[];
    };
    assert.deepEqual(
      firstTwo.rows.map((row) => `${String(row['PartitionKey'])}/${String(row['RowKey'])}`),
      ['p1/r1', 'p1/r2'],
    );
    for (const row of firstTwo.rows) {
      assert.equal('Timestamp' in row, false, 'no Timestamp in list items');
      assert.equal('odata.etag' in row, false, 'no odata.etag in list items');
    }

    const blue = (await (await fetch(host.url(`/api/blue/${name}`))).json()) as { rows: Record<string, unknown>[] };
    assert.deepEqual(
      blue.rows.map((row) => Object.keys(row).slice(0, 3)),
      [
        ['PartitionKey', 'RowKey', 'Colour'],
        ['PartitionKey', 'RowKey', 'Colour'],
        ['PartitionKey', 'RowKey', 'Colour'],
      ],
    );
    assert.deepEqual(
      blue.rows.map((row) => `${String(row['PartitionKey'])}/${String(row['RowKey'])}`),
      ['p1/r1', 'p1/r3', 'p2/r1'],
    );

    const empty = await fetch(host.url(`/api/rows/${name}/nobody`));
    assert.deepEqual(await empty.json(), { rows: [] });
  });

  it('listens on 127.0.0.1 only by default', async () => {
    const listening = await getFrom('127.0.0.1', '127.0.0.1', host.port, '/api/httpTrigger1');
    assert.equal(listening.status, 200);
    const external = externalIPv4();
    await assert.rejects(
      () => getFrom(external, external, host.port, '/api/httpTrigger1'),
      (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
    );
  });
});

describe('devhost app lifecycle with the template app', () => {
  it('hands appTerminate hooks the hook data appStart wrote', async () => {
    const appDir = await templateAppDir();
    const host = await DevhostProcess.start({ app: appDir });
    assert.equal(await host.stop(), 0);
    assert.equal(host.lines(/^TEMPLATE appStart hookData=\{"startedAt":"written-by-appStart"\}$/).length, 1);
    assert.equal(
      host.lines(/^TEMPLATE appTerminate hookData=\{"startedAt":"written-by-appStart"\}$/).length,
      1,
      host.output.join('\n'),
    );
  });
});

describe('devhost with --host 0.0.0.0 and no key enforcement', () => {
  let appDir: string;
  let host: DevhostProcess;

  before(async () => {
    appDir = await templateAppDir();
    host = await DevhostProcess.start({
      app: appDir,
      args: ['--host', '0.0.0.0'],
      env: { 'AzureWebJobs.throwing.Disabled': 'true' },
    });
  });
  after(async () => {
    await host.stop();
  });

  it('serves callers on other addresses, but grants admin only to loopback callers', async () => {
    const external = externalIPv4();
    assert.equal((await getFrom(external, external, host.port, '/api/httpTrigger1')).status, 200);
    assert.equal((await getFrom(external, external, host.port, '/admin/host/status')).status, 401);
    assert.equal((await getFrom(external, external, host.port, '/api/adminOnly')).status, 401);
    assert.equal((await getFrom('127.0.0.1', '127.0.0.1', host.port, '/admin/host/status')).status, 200);
    assert.equal((await getFrom('127.0.0.1', '127.0.0.1', host.port, '/api/adminOnly')).status, 200);
  });

  it('hides a disabled function from callers without admin, as the host does, and runs it for admin callers', async () => {
    assert.equal(host.lines(/^\tthrowing: \[GET\] .* \(disabled\)$/).length, 1, 'listed as disabled');
    const external = externalIPv4();
    assert.equal((await getFrom(external, external, host.port, '/api/throwing')).status, 404);
    // Loopback callers are admin: the function runs (and throws, so 500).
    assert.equal((await getFrom('127.0.0.1', '127.0.0.1', host.port, '/api/throwing')).status, 500);
  });
});
