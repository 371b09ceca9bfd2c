import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { type SalesFact, SalesFacts } from '../../shared/batch/salesFacts';
import { JobStore } from '../../shared/jobs/jobStore';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { CARDS, orderBody } from '../support/orderFixtures';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

const MASTER_KEY = 'test-master-key-exports';
const admin = { 'x-functions-key': MASTER_KEY };
const DAY_MS = 86_400_000;
const ENV = {
  DEVHOST_MASTER_KEY: MASTER_KEY,
  SEED_DEMO_CATALOGUE: 'false',
  // A killed host's message comes back after 4 s instead of the host's 10 minutes.
  DEVHOST_RECEIVE_VISIBILITY_SECONDS: '4',
};
const ARGS = ['--enforce-keys'];

interface Accepted {
  jobId: string;
  statusUrl: string;
}
interface ExportResult {
  orders: number;
  bytes: number;
  file: string;
  download: { url: string; method: string; authLevel: string };
}
interface Problem {
  status: number;
  type?: string;
  errors?: { field: string; message: string }[];
}

function day(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);
}

function syntheticFacts(date: string, count: number): SalesFact[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `ord_${date.replace(/-/g, '')}_${i.toString().padStart(6, '0')}`,
    status: i % 10 === 0 ? 'compensated' : 'succeeded',
    totalCents: 1000 + (i % 7),
    lines: [{ sku: `SKU-${i % 5}`, quantity: 1 + (i % 3), priceCents: 1000 }],
    ...(i % 10 === 0 ? { errorCode: 'PAYMENT_DECLINED' } : {}),
  }));
}

async function requestExport(
  host: DevhostProcess,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return postJson<Accepted & Problem>(host, '/api/exports', body, { ...admin, ...headers });
}

/** The exports' `Idempotency-Key` rows of the app with `prefix` (none, with no table, until a key is sent). */
async function exportKeyRows(prefix: string): Promise<number> {
  const table = storageClients().table(`${prefix}idempotency`);
  let rows = 0;
  try {
    for await (const row of table.listEntities()) if (row.rowKey === 'export') rows += 1;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return rows;
}

async function download(url: string, headers: Record<string, string> = admin) {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The job's download link (relative: no PUBLIC_BASE_URL in tests) on `host`. */
async function downloadFrom(host: DevhostProcess, job: PublicJob) {
  const link = (job.result as unknown as ExportResult).download.url;
  assert.equal(link, `/api/exports/${job.id}/file`);
  const response = await fetch(host.url(link), { headers: admin });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The order ids of a CSV export, in file order (the second column). */
function csvOrderIds(csv: string): string[] {
  const lines = csv.split('\n');
  assert.equal(lines[0], 'completed_on,order_id,status,total_cents,units,items,error_code');
  assert.equal(lines.at(-1), '', 'ends with a newline');
  return lines.slice(1, -1).map((line) => line.split(',')[1] ?? '');
}

/** Orders per day in the crash test: three pages of the ledger a day, nine in all, so the kill lands mid-run. */
const PER_DAY = 3000;
/** Entity-group batches written at once while seeding (Azurite is the bottleneck; one at a time is slow). */
const SEED_CONCURRENCY = 8;

async function seed(ledger: SalesFacts, days: string[], facts: SalesFact[][]): Promise<void> {
  const batches = days.flatMap((date, i) => {
    const all = facts[i] ?? [];
    return Array.from({ length: Math.ceil(all.length / 100) }, (_, b) => ({
      date,
      facts: all.slice(b * 100, b * 100 + 100),
    }));
  });
  const workers = Array.from({ length: SEED_CONCURRENCY }, async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) await ledger.recordMany(batch.date, batch.facts);
  });
  await Promise.all(workers);
}

async function sendRaw(prefix: string, text: string): Promise<void> {
  const queue = storageClients().queues.getQueueClient(`${prefix}-exports`);
  await queue.createIfNotExists();
  await queue.sendMessage(Buffer.from(text).toString('base64'));
}

describe('order export', () => {
  let host: DevhostProcess;
  let prefix: string;

  before(async () => {
    ({ host, prefix } = await startApp({ env: ENV, args: ARGS }));
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  it('is admin only, and a bad request is a 400 naming the field', async () => {
    const body = { from: day(-1), to: day(0), format: 'csv' };
    assert.equal((await postJson(host, '/api/exports', body)).status, 401, 'no key');
    assert.equal((await postJson(host, '/api/exports', body, { 'x-functions-key': 'wrong' })).status, 401);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ to: day(0), format: 'csv' }, 'from', /required/],
      [{ from: '2026-02-30', to: day(0), format: 'csv' }, 'from', /YYYY-MM-DD/],
      [{ from: day(-1), to: day(0), format: 'xlsx' }, 'format', /csv, json/],
      [{ from: day(0), to: day(-1), format: 'csv' }, 'from', /after to/],
      [{ from: day(0), to: day(1), format: 'csv' }, 'to', /after today/],
      [{ from: day(-40), to: day(0), format: 'json' }, 'to', /at most 31 days/],
    ];
    for (const [bad, field, message] of cases) {
      const response = await requestExport(host, bad);
      assert.equal(response.status, 400, JSON.stringify(bad));
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
      const named = response.body.errors?.find((e) => e.field === field);
      assert.ok(named, `${JSON.stringify(bad)} names ${field}: ${JSON.stringify(response.body.errors)}`);
      assert.match(named.message, message);
    }
  });

  it('exports the orders of a period as CSV and JSON, the same bytes every time, downloadable by admins only', async () => {
    const setStock = await fetch(host.url('/api/inventory/SKU-X1'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ stock: 100, priceCents: 1250 }),
    });
    assert.equal(setStock.status, 200);
    const placed: string[] = [];
    for (const body of [
      orderBody({}, [{ sku: 'SKU-X1', quantity: 2 }]),
      orderBody({ payment: { cardNumber: CARDS.declined } }, [{ sku: 'SKU-X1', quantity: 1 }]),
    ]) {
      const created = await postJson<Accepted>(host, '/api/orders', body);
      assert.equal(created.status, 202);
      await waitForJob(host, created.body.jobId);
      placed.push(created.body.jobId);
    }
    const yesterday = syntheticFacts(day(-1), 3);
    await new SalesFacts(storageClients().table(`${prefix}sales`)).recordMany(day(-1), yesterday);

    const started = await requestExport(host, { from: day(-1), to: day(0), format: 'csv' });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.equal(started.headers.get('location'), started.body.statusUrl);
    assert.ok(Number(started.headers.get('retry-after')) > 0);
    const job = await waitForJob(host, started.body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.type, 'export');
    assert.equal(job.progress.percent, 100);
    const result = job.result as unknown as ExportResult;
    assert.equal(result.orders, 5);
    assert.equal(result.file, `${prefix}-exports/${job.id}.csv`);
    assert.deepEqual(result.download, { url: `/api/exports/${job.id}/file`, method: 'GET', authLevel: 'admin' });

    assert.equal((await download(host.url(result.download.url), {})).status, 401, 'the file needs the master key');
    const csv = await downloadFrom(host, job);
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment; filename=".+\.csv"/);
    assert.equal(Buffer.byteLength(csv.text), result.bytes);
    const ids = csvOrderIds(csv.text);
    assert.deepEqual(ids.slice(0, 3), yesterday.map((f) => f.orderId).sort(), "yesterday's orders first");
    assert.deepEqual(ids.slice(3).sort(), [...placed].sort(), "then today's");
    assert.match(csv.text, new RegExp(`^${day(0)},${placed[0]},succeeded,2500,2,SKU-X1:2,$`, 'm'));
    assert.match(csv.text, new RegExp(`^${day(0)},${placed[1]},compensated,1250,1,SKU-X1:1,PAYMENT_DECLINED$`, 'm'));

    const jsonJob = await waitForJob(
      host,
      (await requestExport(host, { from: day(-1), to: day(0), format: 'json' })).body.jobId,
    );
    const json = await downloadFrom(host, jsonJob);
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    const document = JSON.parse(json.text) as {
      from: string;
      to: string;
      count: number;
      orders: { orderId: string }[];
    };
    assert.equal(document.count, 5);
    assert.deepEqual(
      document.orders.map((o) => o.orderId),
      ids,
    );

    const again = await waitForJob(
      host,
      (await requestExport(host, { from: day(-1), to: day(0), format: 'csv' })).body.jobId,
    );
    assert.notEqual(again.id, job.id);
    assert.equal((await downloadFrom(host, again)).text, csv.text, 'same bytes');

    // A duplicate delivery of a finished export changes nothing.
    const blob = storageClients().blobs.getContainerClient(`${prefix}-exports`).getBlobClient(`${job.id}.csv`);
    const etag = (await blob.getProperties()).etag;
    await sendRaw(prefix, JSON.stringify({ jobId: job.id }));
    await host.waitForLine(new RegExp(`export ${job.id}: already-finished`));
    assert.equal((await blob.getProperties()).etag, etag);
    assert.equal((await getJson<PublicJob>(host, `/api/jobs/${job.id}`)).body.attempts, job.attempts);

    const unknown = await download(host.url(`/api/exports/${JobStore.newJobId('exp')}/file`));
    assert.equal(unknown.status, 404, 'an unknown export');
    assert.equal((await download(host.url(`/api/exports/${placed[0] ?? ''}/file`))).status, 404, 'not an export');
    const listed = await getJson<{ jobs: { id: string; label: string }[] }>(host, '/api/jobs?type=export', {
      headers: admin,
    });
    assert.equal(listed.body.jobs.find((j) => j.id === job.id)?.label, `csv of ${day(-1)} to ${day(0)}`);
    await blob.delete();
    assert.equal((await downloadFrom(host, job)).status, 404, 'a deleted file');
  });

  it('refuses an Idempotency-Key reused with another body (409), and one that is not visible ASCII (400)', async () => {
    const key = `export-${JobStore.newJobId('k')}`;
    const body = { from: day(-2), to: day(-1), format: 'csv' };
    const first = await requestExport(host, body, { 'idempotency-key': key });
    assert.equal(first.status, 202, JSON.stringify(first.body));

    const other = await requestExport(host, { ...body, format: 'json' }, { 'idempotency-key': key });
    assert.equal(other.status, 409, JSON.stringify(other.body));
    assert.equal(other.headers.get('content-type'), 'application/problem+json');
    assert.match(other.body.type ?? '', /\/idempotency-key-reused$/, 'the problem type orders answer with');

    const bad = await requestExport(host, body, { 'idempotency-key': 'x'.repeat(201) });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json');
    assert.deepEqual(bad.body.errors, [
      { field: 'Idempotency-Key', message: 'must be 1-200 visible ASCII characters' },
    ]);
    assert.equal((await waitForJob(host, first.body.jobId)).status, 'succeeded');
  });

  it('a key returns its own export only; without a key every request is a new export and claims nothing', async () => {
    const key = `shared-${JobStore.newJobId('k')}`;
    const body = { from: day(-3), to: day(-2), format: 'json' };
    // The same key on an order first: keys are scoped to their route, so the export does not meet the order's.
    const stock = await fetch(host.url('/api/inventory/SKU-K1'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ stock: 10, priceCents: 500 }),
    });
    assert.equal(stock.status, 200);
    const order = await postJson<Accepted>(host, '/api/orders', orderBody({}, [{ sku: 'SKU-K1', quantity: 1 }]), {
      'idempotency-key': key,
    });
    assert.equal(order.status, 202, JSON.stringify(order.body));
    const rowsBefore = await exportKeyRows(prefix);

    const keyed = await requestExport(host, body, { 'idempotency-key': key });
    assert.equal(keyed.status, 202, JSON.stringify(keyed.body));
    assert.match(keyed.body.jobId, /^exp_/);
    const repeat = await requestExport(host, body, { 'idempotency-key': key });
    assert.equal(repeat.status, 202);
    assert.equal(repeat.body.jobId, keyed.body.jobId, 'the same key and body: the same export');
    assert.equal(repeat.headers.get('location'), keyed.headers.get('location'));
    assert.equal(await exportKeyRows(prefix), rowsBefore + 1);

    const plain = [await requestExport(host, body), await requestExport(host, body)];
    const ids = plain.map((response) => response.body.jobId);
    for (const response of plain) {
      assert.equal(response.status, 202);
      assert.equal(response.headers.get('location'), response.body.statusUrl);
    }
    assert.equal(new Set([...ids, keyed.body.jobId]).size, 3, 'no key: a new export each time');
    for (const id of [...ids, keyed.body.jobId]) assert.equal((await waitForJob(host, id)).status, 'succeeded');
    assert.equal(await exportKeyRows(prefix), rowsBefore + 1, 'a request without a key writes no key');
  });

  it('dead-letters a malformed message at once', async () => {
    await sendRaw(prefix, JSON.stringify({ jobId: 42 }));
    const letter = await waitFor('the dead letter', async () => {
      const listed = await getJson<{
        deadLetters: { error: { code: string }; source: { queue?: string }; body: string }[];
      }>(host, '/api/deadletters?state=open', { headers: admin });
      return listed.body.deadLetters.find((l) => l.source.queue === `${prefix}-exports`);
    });
    assert.equal(letter.error.code, 'MALFORMED_MESSAGE');
    assert.equal(letter.body, JSON.stringify({ jobId: 42 }));
  });
});

describe('order export, crashes and failures', () => {
  it('resumes where it stopped after kill -9, with duplicate deliveries racing: every order once', async () => {
    const first = await startApp({ env: ENV, args: ARGS });
    const prefix = first.prefix;
    let host = first.host;
    try {
      const days = [day(-4), day(-3), day(-2)];
      const facts = days.map((date) => syntheticFacts(date, PER_DAY));
      const ledger = new SalesFacts(storageClients().table(`${prefix}sales`));
      await seed(ledger, days, facts);
      const total = 3 * PER_DAY;

      const started = await requestExport(host, { from: days[0], to: days[2], format: 'csv' });
      assert.equal(started.status, 202);
      const jobId = started.body.jobId;
      // Two more deliveries of the same message: they race the first for the checkpoint.
      await sendRaw(prefix, JSON.stringify({ jobId }));
      await sendRaw(prefix, JSON.stringify({ jobId }));
      await waitFor(
        'a page written',
        async () => {
          const current = (await getJson<PublicJob>(host, `/api/jobs/${jobId}`)).body;
          return Number(/in (\d+) pages/.exec(current.progress.message ?? '')?.[1] ?? 0) >= 1 || undefined;
        },
        30_000,
        20,
      );
      await host.kill();
      const killed = await new JobStore(storageClients().table(`${prefix}jobs`)).get(jobId);
      const written = (killed?.data['checkpoint'] as { orders: number } | undefined)?.orders ?? 0;
      assert.ok(written > 0 && written < total, `killed after ${written} of ${total} orders`);
      assert.notEqual(killed?.status, 'succeeded');

      ({ host } = await startApp({ env: ENV, args: ARGS, prefix }));
      const job = await waitForJob(host, jobId, undefined, 90_000);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      const events = (
        await getJson<{ events: { kind: string; message: string }[] }>(host, `/api/jobs/${jobId}/events`, {
          headers: admin,
        })
      ).body.events;
      assert.ok(
        events.some((e) => e.kind === 'resumed' && /after \d+ orders/.test(e.message)),
        `resumed from the checkpoint: ${JSON.stringify(events.map((e) => e.message))}`,
      );
      const csv = await downloadFrom(host, job);
      const ids = csvOrderIds(csv.text);
      assert.equal(ids.length, total, 'every order');
      assert.equal(new Set(ids).size, total, 'no duplicates');
      assert.deepEqual(
        ids,
        facts.flatMap((dayFacts) => dayFacts.map((f) => f.orderId).sort()),
        'in ledger order',
      );

      // An export of the same period that nothing interrupted writes the same bytes.
      const clean = await waitForJob(
        host,
        (await requestExport(host, { from: days[0], to: days[2], format: 'csv' })).body.jobId,
        undefined,
        90_000,
      );
      assert.equal((await downloadFrom(host, clean)).text, csv.text);

      // Cancelled mid-run: the job ends cancelled at once, and the run stops at its next page without committing a
      // file. (A run this small can also be past its last page, committing, when the cancel lands: it then finishes
      // its file, and the job stays cancelled.)
      const doomed = await requestExport(host, { from: days[0], to: days[2], format: 'json' });
      await waitFor(
        'the first page',
        async () => {
          const current = (await getJson<PublicJob>(host, `/api/jobs/${doomed.body.jobId}`)).body;
          return Number(/in (\d+) pages/.exec(current.progress.message ?? '')?.[1] ?? 0) >= 1 || undefined;
        },
        30_000,
        20,
      );
      const cancel = await postJson<{ status: string }>(host, `/api/exports/${doomed.body.jobId}/cancel`, {}, admin);
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
      assert.equal(cancel.body.status, 'cancelled');
      const ended = await host.waitForLine(new RegExp(`export ${doomed.body.jobId}: (cancelled|succeeded)`), 30_000);
      const stopped = (await getJson<PublicJob>(host, `/api/jobs/${doomed.body.jobId}`)).body;
      assert.equal(stopped.status, 'cancelled', 'a cancel sticks');
      if (ended.endsWith('cancelled')) {
        assert.equal(stopped.error?.code, 'EXPORT_CANCELLED');
        const file = storageClients()
          .blobs.getContainerClient(`${prefix}-exports`)
          .getBlobClient(`${doomed.body.jobId}.json`);
        assert.equal(await file.exists(), false, 'no file');
      }
      assert.equal(
        (await download(host.url(`/api/exports/${doomed.body.jobId}/file`))).status,
        409,
        'a cancelled export has no download',
      );
      assert.equal((await postJson(host, `/api/exports/${doomed.body.jobId}/cancel`, {}, admin)).status, 409);
      const letters = await getJson<{ deadLetters: { jobId?: string }[] }>(host, '/api/deadletters', {
        headers: admin,
      });
      assert.ok(!letters.body.deadLetters.some((l) => l.jobId === doomed.body.jobId), 'a cancel is no dead letter');
    } finally {
      await host.stop();
    }
  });

  it('a retry with the same Idempotency-Key runs an export whose first request created it but never queued it', async () => {
    // Only the API runs at first, so nothing takes the message before it is lost.
    const api = await startApp({ env: ENV, args: [...ARGS, '--functions', 'createExport,getJob'] });
    const prefix = api.prefix;
    const key = `lost-send-${prefix}`;
    const body = { from: day(-2), to: day(0), format: 'csv' };
    const first = await requestExport(api.host, body, { 'idempotency-key': key });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    await api.host.stop();
    // What a host killed between creating the job and sending its message leaves (or a send that failed): the job,
    // `queued`, and no message. (The caller got no 202 then; it has only its key.)
    await storageClients().queues.getQueueClient(`${prefix}-exports`).clearMessages();
    const stranded = await new JobStore(storageClients().table(`${prefix}jobs`)).get(first.body.jobId);
    assert.equal(stranded?.status, 'queued');

    const { host } = await startApp({ env: ENV, args: ARGS, prefix });
    try {
      const retry = await requestExport(host, body, { 'idempotency-key': key });
      assert.equal(retry.status, 202, JSON.stringify(retry.body));
      assert.equal(retry.body.jobId, first.body.jobId, 'the first export, not a second');
      assert.equal(retry.body.statusUrl, first.body.statusUrl);
      assert.equal(retry.headers.get('location'), first.headers.get('location'));
      const job = await waitForJob(host, first.body.jobId, undefined, 30_000);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      assert.equal((await downloadFrom(host, job)).status, 200);
      const listed = await getJson<{ jobs: { id: string }[] }>(host, '/api/jobs?type=export', { headers: admin });
      assert.deepEqual(
        listed.body.jobs.map((j) => j.id),
        [first.body.jobId],
        'one export',
      );
    } finally {
      await host.stop();
    }
  });

  it('retries a failing export, dead-letters it after five deliveries, and a replay finishes it', async () => {
    // Only the API runs at first, so the job waits on its queue while storage is made to refuse its file.
    const api = await startApp({ env: ENV, args: [...ARGS, '--functions', 'createExport,getJob'] });
    const prefix = api.prefix;
    const started = await requestExport(api.host, { from: day(-2), to: day(0), format: 'json' });
    assert.equal(started.status, 202);
    await api.host.stop();
    const jobId = started.body.jobId;
    const blob = storageClients().blobs.getContainerClient(`${prefix}-exports`).getBlockBlobClient(`${jobId}.json`);
    await blob.upload('held', 4);
    const lease = blob.getBlobLeaseClient();
    await lease.acquireLease(-1); // every write without the lease id is refused (412)

    const { host } = await startApp({ env: ENV, args: ARGS, prefix });
    try {
      const failed = await waitForJob(host, jobId, 'failed', 90_000);
      assert.equal(failed.attempts, 5, 'retried up to maxDequeueCount');
      const events = (
        await getJson<{ events: { kind: string; data?: { deadLetterId?: string } }[] }>(
          host,
          `/api/jobs/${jobId}/events`,
          { headers: admin },
        )
      ).body.events;
      const deadLetterId = events.find((e) => e.kind === 'dead-lettered')?.data?.deadLetterId;
      assert.ok(deadLetterId, 'the failure names its dead letter');
      const letter = await getJson<{ body: string; jobId: string }>(host, `/api/deadletters/${deadLetterId}`, {
        headers: admin,
      });
      assert.equal(letter.body.jobId, jobId);
      assert.deepEqual(JSON.parse(letter.body.body), { jobId }, 'the message body is kept');
      assert.equal((await download(host.url(`/api/exports/${jobId}/file`))).status, 409, 'no file for a failed export');

      await lease.breakLease(0);
      const replay = await postJson(host, `/api/deadletters/${deadLetterId}/replay`, {}, admin);
      assert.equal(replay.status, 202);
      const job = await waitForJob(host, jobId, 'succeeded', 30_000);
      const document = JSON.parse((await downloadFrom(host, job)).text) as {
        count: number;
      };
      assert.equal(document.count, 0);
    } finally {
      await host.stop();
    }
  });
});
