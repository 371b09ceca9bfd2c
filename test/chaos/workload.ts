import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { thumbnailPath } from '../../shared/thumbnails/thumbnailNames';
import { getJson, postJson, type PublicJob } from '../support/api';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { CARDS, orderBody, OrderLedger } from '../support/orderFixtures';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

/** `npm run test:chaos` sets CHAOS_SCALE=full; `npm test` (and CI) runs the short version. */
export const FULL = process.env['CHAOS_SCALE'] === 'full';
export const MASTER_KEY = 'chaos-master-key';
export const SKUS = ['CH-A', 'CH-B', 'CH-C'];
export const INITIAL_STOCK = 100_000;
const OUTPUT = path.resolve(__dirname, '..', '..', '..', 'test-output');

/** Settings that make recovery fast enough to watch: short receive visibility, an eager supervisor. */
export const CHAOS_ENV = {
  DEVHOST_MASTER_KEY: MASTER_KEY,
  SEED_DEMO_CATALOGUE: 'false',
  DEVHOST_RECEIVE_VISIBILITY_SECONDS: '8',
  ORDER_STEP_DEADLINE_SECONDS: '10',
  ORDER_MAX_REDRIVES: '50',
  ORDER_SUPERVISOR_SCHEDULE: '*/5 * * * * *',
};

export interface Submitted {
  orders: { jobId: string; card: string; sku: string; quantity: number }[];
  uploads: string[];
}

export async function stockUp(host: DevhostProcess): Promise<void> {
  for (const sku of SKUS) {
    const response = await fetch(host.url(`/api/inventory/${sku}`), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-functions-key': MASTER_KEY },
      body: JSON.stringify({ stock: INITIAL_STOCK, priceCents: 999, name: sku }),
    });
    if (response.status !== 200) throw new Error(`stock ${sku}: ${response.status}`);
  }
}

/** Orders with a mix of cards: most succeed, some are declined (compensated), some fail transiently once. */
export async function submitOrders(host: DevhostProcess, count: number, into: Submitted): Promise<void> {
  const cards = [CARDS.ok, CARDS.ok, CARDS.ok, CARDS.declined, CARDS.flaky];
  for (let i = 0; i < count; i++) {
    const card = cards[i % cards.length] ?? CARDS.ok;
    const sku = SKUS[i % SKUS.length] ?? 'CH-A';
    const quantity = 1 + (i % 3);
    const response = await postJson<{ jobId: string }>(
      host,
      '/api/orders',
      orderBody({ payment: { cardNumber: card } }, [{ sku, quantity }]),
    );
    if (response.status !== 202) throw new Error(`order ${i}: ${response.status} ${JSON.stringify(response.body)}`);
    into.orders.push({ jobId: response.body.jobId, card, sku, quantity });
  }
}

export async function submitUploads(prefix: string, count: number, into: Submitted): Promise<void> {
  const image = await testImage(800, 600, 'jpeg');
  const uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
  await uploads.createIfNotExists();
  for (let i = 0; i < count; i++) {
    const name = `chaos-${i}.jpg`;
    await uploads.getBlockBlobClient(name).uploadData(image, { blobHTTPHeaders: { blobContentType: 'image/jpeg' } });
    into.uploads.push(name);
  }
}

export interface Verdict {
  submittedOrders: number;
  submittedUploads: number;
  terminal: Record<string, number>;
  lostOrders: string[];
  missingThumbnails: string[];
  duplicatedEffects: string[];
  leftoverEffects: string[];
  stockDrift: Record<string, number>;
}

/** Waits until every order is terminal and every upload has its thumbnails, then checks each effect's count. */
export async function verify(
  host: DevhostProcess,
  prefix: string,
  submitted: Submitted,
  timeoutMs: number,
): Promise<Verdict> {
  const terminal = new Set(['succeeded', 'failed', 'compensated', 'cancelled']);
  const jobs = new Map<string, PublicJob>();
  await waitFor(
    'every order to end',
    async () => {
      for (const order of submitted.orders) {
        if (terminal.has(jobs.get(order.jobId)?.status ?? '')) continue;
        const { status, body } = await getJson<PublicJob>(host, `/api/jobs/${order.jobId}`);
        if (status === 200) jobs.set(order.jobId, body);
      }
      return submitted.orders.every((o) => terminal.has(jobs.get(o.jobId)?.status ?? '')) || undefined;
    },
    timeoutMs,
    1000,
  ).catch(() => undefined);
  const thumbnails = storageClients().blobs.getContainerClient(`${prefix}-thumbnails`);
  const missingThumbnails: string[] = [];
  await waitFor(
    'every upload to have its thumbnails',
    async () => {
      missingThumbnails.length = 0;
      for (const name of submitted.uploads) {
        for (const width of [128, 256, 512]) {
          // The app's default format is WebP: thumbnail names end in their content's extension.
          const thumbnail = thumbnailPath(width, name, 'image/webp');
          if (!(await thumbnails.getBlobClient(thumbnail).exists())) missingThumbnails.push(thumbnail);
        }
      }
      return missingThumbnails.length === 0 || undefined;
    },
    Math.max(10_000, timeoutMs / 2),
    1000,
  ).catch(() => undefined);

  const ledger = new OrderLedger(prefix);
  const verdict: Verdict = {
    submittedOrders: submitted.orders.length,
    submittedUploads: submitted.uploads.length,
    terminal: {},
    lostOrders: [],
    missingThumbnails,
    duplicatedEffects: [],
    leftoverEffects: [],
    stockDrift: {},
  };
  const sold = new Map<string, number>();
  for (const order of submitted.orders) {
    const job = jobs.get(order.jobId);
    const status = job?.status ?? 'missing';
    verdict.terminal[status] = (verdict.terminal[status] ?? 0) + 1;
    if (!terminal.has(status)) {
      verdict.lostOrders.push(`${order.jobId} (${status})`);
      continue;
    }
    const e = await ledger.effects(order.jobId, [order.sku]);
    if (e.charges > 1 || e.refunds > 1 || e.reservations > 1 || e.emails > 1 || e.shipments > 1) {
      verdict.duplicatedEffects.push(`${order.jobId}: ${JSON.stringify(e)}`);
    }
    if (status === 'succeeded') {
      if (e.charges !== 1 || e.refunds !== 0 || e.reservations !== 1 || e.emails !== 1)
        verdict.leftoverEffects.push(`${order.jobId} succeeded with ${JSON.stringify(e)}`);
      sold.set(order.sku, (sold.get(order.sku) ?? 0) + order.quantity);
    } else if (e.charges - e.refunds !== 0 || e.reservations !== 0) {
      verdict.leftoverEffects.push(`${order.jobId} ${status} with ${JSON.stringify(e)}`);
    }
  }
  for (const sku of SKUS) {
    const expected = INITIAL_STOCK - (sold.get(sku) ?? 0);
    const actual = await ledger.stock(sku);
    if (actual !== expected) verdict.stockDrift[sku] = actual - expected;
  }
  return verdict;
}

export function report(name: string, verdict: Verdict, extra: Record<string, unknown> = {}): void {
  mkdirSync(OUTPUT, { recursive: true });
  const summary = { name, scale: FULL ? 'full' : 'short', at: new Date().toISOString(), ...verdict, ...extra };
  writeFileSync(path.join(OUTPUT, `chaos-${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    `# chaos ${name}: orders ${verdict.submittedOrders} (${JSON.stringify(verdict.terminal)}), uploads ${verdict.submittedUploads}, lost ${verdict.lostOrders.length}, missing thumbnails ${verdict.missingThumbnails.length}, duplicated ${verdict.duplicatedEffects.length}, leftover ${verdict.leftoverEffects.length}, stock drift ${JSON.stringify(verdict.stockDrift)}\n`,
  );
}
