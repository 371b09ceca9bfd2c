import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';

import {
  SALES_PAGE_SIZE,
  SALES_SHARDS,
  type SalesFact,
  SalesFacts,
  salesPartition,
  salesPartitionsOf,
} from '../../shared/batch/salesFacts';
import type { Job } from '../../shared/jobs/jobTypes';
import { storageClients, uniqueName } from '../support/storage';

function fact(i: number): SalesFact {
  return {
    orderId: `ord_${i.toString().padStart(6, '0')}`,
    status: 'succeeded',
    totalCents: 100,
    lines: [{ sku: 'SKU-1', quantity: 1, priceCents: 100 }],
  };
}

async function readAll(sales: SalesFacts, date: string, from?: string) {
  const ids: string[] = [];
  let token = from;
  let pages = 0;
  do {
    const page = await sales.page(date, token);
    ids.push(...page.facts.map((f) => f.orderId));
    token = page.continuationToken;
    pages++;
  } while (token);
  return { ids, pages };
}

describe('sales ledger (Table Storage), sharded per day', () => {
  let table: TableClient;
  let sales: SalesFacts;

  before(async () => {
    table = storageClients().table(uniqueName('sales'));
    sales = new SalesFacts(table);
    await sales.ensureTable();
  });

  it('spreads a day over its shards and reads every fact back once, in pages, in order id order', async () => {
    const date = '2026-03-01';
    const facts = Array.from({ length: 2500 }, (_, i) => fact(i));
    await sales.recordMany(date, facts);
    const used = new Set(facts.map((f) => salesPartition(date, f.orderId)));
    assert.equal(used.size, SALES_SHARDS, 'every shard used');
    const { ids, pages } = await readAll(sales, date);
    assert.equal(ids.length, facts.length);
    assert.equal(new Set(ids).size, facts.length, 'no fact twice');
    assert.deepEqual(ids, [...ids].sort(), 'in order id order across shards and pages');
    assert.ok(pages >= Math.ceil(facts.length / SALES_PAGE_SIZE), `${pages} pages of at most ~${SALES_PAGE_SIZE}`);
  });

  it('resumes from a token mid-day, and reads the unsharded partition older ledgers wrote, old tokens included', async () => {
    const date = '2026-03-02';
    // An order finished before sharding: its row sits in the bare day partition.
    for (let i = 0; i < 30; i++) {
      const old = fact(10_000 + i);
      await table.createEntity({
        partitionKey: date,
        rowKey: old.orderId,
        status: old.status,
        totalCents: old.totalCents,
        lines: JSON.stringify(old.lines),
        errorCode: '',
        completedAt: `${date}T10:00:00.000Z`,
      });
    }
    const job: Job = {
      id: 'ord_recorded',
      type: 'order',
      status: 'succeeded',
      progress: { step: 'done', index: 4, total: 4, percent: 100 },
      attempts: 1,
      createdAt: `${date}T11:00:00.000Z`,
      updatedAt: `${date}T11:00:01.000Z`,
      completedAt: `${date}T11:00:01.000Z`,
      correlation: {},
      data: { totalCents: 100, lines: [{ sku: 'SKU-1', quantity: 1, priceCents: 100 }] },
    };
    await sales.record(job);
    await sales.record(job); // a repeat changes nothing
    await sales.recordMany(
      date,
      Array.from({ length: 1200 }, (_, i) => fact(i)),
    );

    const first = await sales.page(date);
    assert.ok(first.continuationToken, 'more to come');
    const rest = await readAll(sales, date, first.continuationToken);
    const ids = [...first.facts.map((f) => f.orderId), ...rest.ids];
    assert.equal(ids.length, 30 + 1 + 1200);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes('ord_recorded') && ids.includes('ord_010000'));
    assert.deepEqual(ids, [...ids].sort(), 'the old partition merged in order too');

    // A checkpoint written before sharding holds the table's own token for the bare day partition.
    const legacy = await table
      .listEntities({ queryOptions: { filter: `PartitionKey eq '${date}'` } })
      .byPage({ maxPageSize: 10 })
      .next();
    const legacyToken = legacy.done ? undefined : legacy.value.continuationToken;
    assert.ok(legacyToken);
    const resumed = await readAll(sales, date, legacyToken);
    assert.equal(resumed.ids.length, 20 + 1 + 1200, 'the 20 old rows left, then every shard');
    assert.equal(salesPartitionsOf(date).length, SALES_SHARDS + 1);
  });

  it("keeps the fact of an order's latest end whatever order the writes arrive in, and writes a repeat of it not at all", async () => {
    const day = '2026-03-03';
    const ended = (status: Job['status'], reopens: number, code: string): Job => ({
      id: 'ord_reopened',
      type: 'order',
      status,
      progress: { step: 'done', index: 1, total: 4, percent: 25 },
      attempts: 1,
      error: { code, message: code },
      createdAt: `${day}T09:00:00.000Z`,
      updatedAt: `${day}T09:0${reopens}:00.000Z`,
      completedAt: `${day}T09:0${reopens}:00.000Z`,
      correlation: {},
      data: { totalCents: 500, lines: [], reopens },
    });
    const read = async () => (await sales.page(day)).facts.map((f) => `${f.orderId} ${f.status} ${f.errorCode ?? ''}`);
    await sales.record(ended('compensated', 1, 'STUCK')); // the end after the reopen arrives first
    await sales.record(ended('failed', 0, 'STUCK')); // then a stale message with the end before it
    assert.deepEqual(await read(), ['ord_reopened compensated STUCK']);
    const before = await table.getEntity(salesPartition(day, 'ord_reopened'), 'ord_reopened');
    await sales.record(ended('compensated', 1, 'STUCK'));
    const after = await table.getEntity(salesPartition(day, 'ord_reopened'), 'ord_reopened');
    assert.equal(after.etag, before.etag, 'a repeat of the same end writes nothing');
    await sales.record(ended('cancelled', 2, 'CANCELLED')); // a later end still replaces it
    assert.deepEqual(await read(), ['ord_reopened cancelled CANCELLED']);
  });
});
