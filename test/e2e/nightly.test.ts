import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { aggregate, emptyAggregate, renderReportJson } from '../../shared/batch/dailyReport';
import { nightlyJobId } from '../../shared/batch/nightlyBatch';
import { type SalesFact, SalesFacts } from '../../shared/batch/salesFacts';
import { deadLetterId, DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobStore } from '../../shared/jobs/jobStore';
import { InventoryStore } from '../../shared/orders/inventoryStore';
import { getJson, postJson, type PublicJob, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { CARDS, orderBody } from '../support/orderFixtures';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

const MASTER_KEY = 'test-master-key-nightly';
const admin = { 'x-functions-key': MASTER_KEY };
const DAY_MS = 86_400_000;
const BASE_ENV = { DEVHOST_MASTER_KEY: MASTER_KEY, SEED_DEMO_CATALOGUE: 'false', NIGHTLY_LEASE_SECONDS: '2' };

function day(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);
}

async function runBatch(host: DevhostProcess, body: Record<string, unknown>) {
  return postJson<{ jobId: string; statusUrl: string; detail?: string }>(host, '/api/batch/nightly/run', body, admin);
}

async function report(prefix: string, date: string, ext: 'json' | 'csv'): Promise<Buffer> {
  return storageClients()
    .blobs.getContainerClient(`${prefix}-reports`)
    .getBlobClient(`daily/${date}.${ext}`)
    .downloadToBuffer();
}

function syntheticFacts(count: number): SalesFact[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `ord_synthetic_${i.toString().padStart(6, '0')}`,
    status: i % 10 === 0 ? 'compensated' : 'succeeded',
    totalCents: 1000 + (i % 7),
    lines: [{ sku: `SKU-${i % 5}`, quantity: 1 + (i % 3), priceCents: 1000 }],
    ...(i % 10 === 0 ? { errorCode: 'PAYMENT_DECLINED' } : {}),
  }));
}

describe('nightly batch', () => {
  let host: DevhostProcess;
  let prefix: string;

  before(async () => {
    ({ host, prefix } = await startApp({ env: BASE_ENV }));
  });
  after(async () => {
    assert.equal(await host.stop(), 0);
  });

  async function setStock(sku: string, stock: number, priceCents: number) {
    const response = await fetch(host.url(`/api/inventory/${sku}`), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ stock, priceCents }),
    });
    assert.equal(response.status, 200);
  }

  it("reports the day's orders exactly, and a rerun writes identical bytes and deletes nothing twice", async () => {
    await setStock('SKU-N1', 100, 1500);
    await setStock('SKU-N2', 1, 700);
    const placed = [
      orderBody({}, [{ sku: 'SKU-N1', quantity: 2 }]),
      orderBody({}, [
        { sku: 'SKU-N1', quantity: 1 },
        { sku: 'SKU-N2', quantity: 1 },
      ]),
      orderBody({ payment: { cardNumber: CARDS.declined } }, [{ sku: 'SKU-N1', quantity: 1 }]),
      orderBody({}, [{ sku: 'SKU-N2', quantity: 5 }]),
    ];
    const statuses: string[] = [];
    for (const body of placed) {
      const created = await postJson<{ jobId: string }>(host, '/api/orders', body);
      assert.equal(created.status, 202);
      statuses.push((await waitForJob(host, created.body.jobId)).status);
    }
    assert.deepEqual(statuses, ['succeeded', 'succeeded', 'compensated', 'failed']);
    const date = day(0);
    const started = await runBatch(host, { date });
    assert.equal(started.status, 202);
    const job = await waitForJob(host, started.body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    // The two succeeded orders' three reservations are marked consumed (never examined or released again); the
    // stock stays where shipping left it.
    const found = job.result?.['findings'] as Record<string, number>;
    assert.equal(found['reservationsConsumed'], 3);
    assert.equal(found['reservationsReleased'], 0);
    const inventory = new InventoryStore(storageClients().table(`${prefix}inventory`));
    assert.equal((await inventory.getItem('SKU-N1'))?.stock, 100 - 3);
    assert.equal((await inventory.getItem('SKU-N2'))?.stock, 0);
    const json = JSON.parse((await report(prefix, date, 'json')).toString()) as Record<string, unknown>;
    assert.equal(json['orders'], 4);
    assert.equal(json['succeeded'], 2);
    assert.equal(json['revenueCents'], 2 * 1500 + 1500 + 700);
    assert.deepEqual(json['unitsBySku'], { 'SKU-N1': 3, 'SKU-N2': 1 });
    assert.deepEqual(json['failuresByReason'], { OUT_OF_STOCK: 1 });
    assert.deepEqual(json['compensationsByReason'], { PAYMENT_DECLINED: 1 });
    const csv = (await report(prefix, date, 'csv')).toString();
    assert.match(
      csv,
      new RegExp(
        `^date,sku,units,revenue_cents\\n${date},SKU-N1,3,4500\\n${date},SKU-N2,1,700\\n${date},TOTAL,4,5200\\n$`,
      ),
    );

    const again = await runBatch(host, { date });
    assert.equal(again.status, 409, 'a completed date is not run again without force');
    const jsonBefore = await report(prefix, date, 'json');
    const csvBefore = await report(prefix, date, 'csv');
    const forced = await runBatch(host, { date, force: true });
    assert.equal(forced.status, 202);
    const rerun = await waitFor('the forced rerun', async () => {
      const current = (await getJson<PublicJob>(host, `/api/jobs/${forced.body.jobId}`)).body;
      return current.status === 'succeeded' && (current.result?.['attempt'] as number) === 2 ? current : undefined;
    });
    assert.deepEqual(await report(prefix, date, 'json'), jsonBefore);
    assert.deepEqual(await report(prefix, date, 'csv'), csvBefore);
    assert.equal((rerun.result?.['findings'] as Record<string, number>)['jobsDeleted'], 0);
  });

  it('deletes exactly what retention says is old, and releases an orphaned reservation', async () => {
    const clients = storageClients();
    const jobs = new JobStore(clients.table(`${prefix}jobs`));
    const old = new Date(Date.now() - 40 * DAY_MS).toISOString();
    const oldIds = [JobStore.newJobId('old'), JobStore.newJobId('old')];
    const recentId = JobStore.newJobId('new');
    for (const id of oldIds) await jobs.create({ id, type: 'retention-test', createdAt: old });
    await jobs.create({ id: recentId, type: 'retention-test' });
    const deadLetters = new DeadLetterStore(clients.table(`${prefix}deadletters`));
    const letter = (at: Date, n: string) => ({
      id: deadLetterId(n, at, 'retention'),
      source: { kind: 'queue' as const, queue: 'x' },
      body: 'b',
      dequeueCount: 5,
      error: { code: 'E', message: 'm' },
      deadLetteredAt: at.toISOString(),
    });
    const oldLetter = letter(new Date(Date.now() - 100 * DAY_MS), 'a');
    const newLetter = letter(new Date(), 'b');
    await deadLetters.record(oldLetter);
    await deadLetters.record(newLetter);
    const thumbnails = clients.blobs.getContainerClient(`${prefix}-thumbnails`);
    const uploads = clients.blobs.getContainerClient(`${prefix}-uploads`);
    await thumbnails.getBlockBlobClient('128/gone.png').upload('x', 1);
    await thumbnails.getBlockBlobClient('128/gone.png.webp').upload('x', 1);
    // A real upload: its thumbnail job writes `128/kept.png.webp` (WebP appended to the name), which the purge must
    // map back to `kept.png` and keep. Waiting for it also keeps the job from racing the batch.
    await uploads.getBlockBlobClient('kept.png').uploadData(await testImage(300, 200, 'png'), {
      blobHTTPHeaders: { blobContentType: 'image/png' },
    });
    await waitFor(
      'the thumbnail of kept.png',
      async () => ((await thumbnails.getBlobClient('128/kept.png.webp').exists()) ? true : undefined),
      60_000,
    );
    const inventory = new InventoryStore(clients.table(`${prefix}inventory`));
    await inventory.setItem({ sku: 'SKU-G', name: 'Ghost', priceCents: 1, stock: 10 });
    await inventory.reserve('ord_ghostorder', [{ sku: 'SKU-G', quantity: 4 }]);
    assert.equal((await inventory.getItem('SKU-G'))?.stock, 6);

    const date = day(-5);
    const started = await runBatch(host, { date });
    const job = await waitForJob(host, started.body.jobId);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const findings = job.result?.['findings'] as Record<string, number>;
    for (const id of oldIds) assert.equal(await jobs.get(id), undefined, 'old job deleted');
    assert.ok(await jobs.get(recentId), 'recent job kept');
    assert.deepEqual(await jobs.events(oldIds[0] ?? ''), []);
    assert.ok((findings['jobsDeleted'] ?? 0) >= 2);
    assert.equal(await deadLetters.get(oldLetter.id), undefined);
    assert.ok(await deadLetters.get(newLetter.id));
    assert.equal(await thumbnails.getBlobClient('128/gone.png').exists(), false);
    assert.equal(await thumbnails.getBlobClient('128/gone.png.webp').exists(), false);
    assert.equal(await thumbnails.getBlobClient('128/kept.png.webp').exists(), true, 'thumbnail of an existing upload');
    assert.equal((await inventory.getItem('SKU-G'))?.stock, 10, 'orphaned reservation released');
    assert.ok((findings['reservationsReleased'] ?? 0) >= 1);
  });

  it('answers 409 while a date is in flight, and a killed run resumes from its checkpoint to the same report', async () => {
    const date = day(-9);
    const facts = syntheticFacts(10_000);
    await new SalesFacts(storageClients().table(`${prefix}sales`)).recordMany(date, facts);
    const started = await runBatch(host, { date });
    assert.equal(started.status, 202);
    const busy = await runBatch(host, { date });
    assert.equal(busy.status, 409, 'in flight');
    // Kill the host mid-run, once a checkpoint shows progress.
    await waitFor(
      'progress',
      async () => {
        const current = (await getJson<PublicJob>(host, `/api/jobs/${started.body.jobId}`)).body;
        return /orders counted/.test(current.progress.message ?? '') || undefined;
      },
      30_000,
      20,
    );
    await host.kill();
    const counted = Number(
      /(\d+) orders counted/.exec(
        (await new JobStore(storageClients().table(`${prefix}jobs`)).get(nightlyJobId(date)))?.progress.message ?? '',
      )?.[1] ?? 0,
    );
    assert.ok(counted > 0 && counted < facts.length, `killed after ${counted} of ${facts.length}`);
    ({ host } = await startApp({ env: BASE_ENV, prefix }));
    const resumed = await waitFor(
      'the lease to lapse and the run to resume',
      async () => {
        const response = await runBatch(host, { date });
        return response.status === 202 ? response : undefined;
      },
      20_000,
      500,
    );
    const job = await waitForJob(host, resumed.body.jobId, 'succeeded', 60_000);
    const events = (await getJson<{ events: { kind: string; message: string }[] }>(host, `/api/jobs/${job.id}/events`))
      .body.events;
    assert.ok(
      events.some((e) => e.kind === 'run-started' && /resumed at report after \d+ items/.test(e.message)),
      'resumed from the checkpoint',
    );
    const expected = renderReportJson(date, aggregate(emptyAggregate(), facts));
    assert.equal((await report(prefix, date, 'json')).toString(), expected);
  });
});

describe('nightly batch schedule', () => {
  it('runs one occurrence once with two hosts, and catches up two missed nights after an outage', async () => {
    const env = { ...BASE_ENV, NIGHTLY_SCHEDULE: '*/3 * * * * *' };
    const first = await startApp({ env, args: ['--functions', 'nightlyBatch,nightlyRun,getJob'] });
    const second = await startApp({
      env,
      prefix: first.prefix,
      args: ['--functions', 'nightlyBatch,nightlyRun,getJob'],
    });
    const hosts = [first.host, second.host];
    try {
      const date = day(-1);
      await waitFor(
        'two occurrences',
        () => hosts.reduce((n, h) => n + h.lines(/nightly batch queued for/).length, 0) >= 2 || undefined,
        20_000,
      );
      await waitFor(
        'the runs to finish',
        () =>
          hosts.reduce((n, h) => n + h.lines(/nightly batch for .*: (succeeded|already-done)/).length, 0) >= 2 ||
          undefined,
        30_000,
      );
      const succeeded = hosts.reduce(
        (n, h) => n + h.lines(new RegExp(`nightly batch for ${date}: succeeded`)).length,
        0,
      );
      assert.equal(succeeded, 1, 'one run did the work');
      const firers = hosts.filter((h) => h.lines(/nightly batch queued for/).length > 0);
      assert.equal(firers.length, 1, 'one instance runs the timer');
      const job = (await getJson<PublicJob>(first.host, `/api/jobs/${nightlyJobId(date)}`)).body;
      assert.equal(job.result?.['attempt'], 1);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }

    // An outage: the host last ran two nights ago at 02:00 UTC; the next two nights went by with no host.
    const outage = await startApp({ env: BASE_ENV, args: ['--functions', 'getJob'] });
    await outage.host.stop();
    const hostId = `host-${outage.prefix}`;
    const now = Date.now();
    const lastRun = new Date(
      Date.UTC(
        new Date(now - 2 * DAY_MS).getUTCFullYear(),
        new Date(now - 2 * DAY_MS).getUTCMonth(),
        new Date(now - 2 * DAY_MS).getUTCDate(),
        2,
      ),
    );
    const status = JSON.stringify({
      Last: lastRun.toISOString(),
      Next: new Date(lastRun.getTime() + DAY_MS).toISOString(),
      LastUpdated: lastRun.toISOString(),
    });
    const blob = storageClients()
      .blobs.getContainerClient('azure-webjobs-hosts')
      .getBlockBlobClient(`timers/${hostId}/Host.Functions.nightlyBatch/status`);
    await blob.upload(status, Buffer.byteLength(status));
    const catchUp = await startApp({
      env: BASE_ENV,
      prefix: outage.prefix,
      args: ['--functions', 'nightlyBatch,nightlyRun,getJob'],
    });
    try {
      const missed = [day(-2), day(-1)];
      await catchUp.host.waitForLine(/past due: catching up/);
      for (const date of missed)
        assert.equal((await waitForJob(catchUp.host, nightlyJobId(date))).status, 'succeeded', date);
      assert.equal(
        (await getJson(catchUp.host, `/api/jobs/${nightlyJobId(day(-3))}`)).status,
        404,
        'the night that did run is not run again',
      );
    } finally {
      assert.equal(await catchUp.host.stop(), 0);
    }
  });
});
