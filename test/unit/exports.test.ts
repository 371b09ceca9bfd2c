import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ExportFile } from '../../shared/exports/exportBlob';
import { type ExportCheckpoint, MAX_EXPORT_BLOCKS } from '../../shared/exports/exportCheckpoint';
import { type ExportedOrder, renderFooter, renderHeader, renderOrders } from '../../shared/exports/exportFormats';
import { csvField } from '../../shared/exports/exportFormats';
import { exportRequestSchema, MAX_EXPORT_DAYS } from '../../shared/exports/exportRequest';
import type { OrderPages } from '../../shared/exports/orderPages';
import {
  type CheckpointSave,
  EXPORT_CANCELLED,
  EXPORT_TOO_LARGE,
  type ExportRunPorts,
  type ExportSpec,
  runExport,
} from '../../shared/exports/runExport';
import { JobCancelledError, PermanentJobError } from '../../shared/jobs/jobErrors';

const NOW = () => new Date('2026-03-15T10:00:00.000Z');

function fieldsOf(body: unknown): Record<string, string> {
  const parsed = exportRequestSchema(NOW).safeParse(body);
  if (parsed.success) return {};
  return Object.fromEntries(parsed.error.issues.map((issue) => [issue.path.join('.') || '(body)', issue.message]));
}

describe('export request', () => {
  it('accepts a closed period and today', () => {
    assert.deepEqual(fieldsOf({ from: '2026-03-01', to: '2026-03-15', format: 'csv' }), {});
    assert.deepEqual(fieldsOf({ from: '2026-02-28', to: '2026-02-28', format: 'json' }), {});
  });

  it('names the field at fault', () => {
    assert.match(fieldsOf({ to: '2026-03-01', format: 'csv' })['from'] ?? '', /required/);
    assert.match(fieldsOf({ from: '2026-02-30', to: '2026-03-01', format: 'csv' })['from'] ?? '', /YYYY-MM-DD/);
    assert.match(fieldsOf({ from: '2026-03-01', to: '03/02/2026', format: 'csv' })['to'] ?? '', /YYYY-MM-DD/);
    assert.match(fieldsOf({ from: '2026-03-01', to: '2026-03-02', format: 'xml' })['format'] ?? '', /csv, json/);
    assert.match(fieldsOf({ from: '2026-03-05', to: '2026-03-02', format: 'csv' })['from'] ?? '', /after to/);
    assert.match(fieldsOf({ from: '2026-03-01', to: '2026-03-16', format: 'csv' })['to'] ?? '', /after today/);
    assert.match(
      fieldsOf({ from: '2026-01-01', to: '2026-03-01', format: 'csv' })['to'] ?? '',
      new RegExp(`at most ${MAX_EXPORT_DAYS} days`),
    );
    assert.deepEqual(fieldsOf({ from: '2026-02-01', to: '2026-03-03', format: 'csv' }), {}, '31 days is allowed');
    assert.ok(fieldsOf({ from: '2026-03-01', to: '2026-03-02', format: 'csv', owner: 'x' })['(body)']);
  });
});

describe('export formats', () => {
  it('quotes CSV fields by RFC 4180 and defuses spreadsheet formulas', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvField('-1+1'), "'-1+1");
    assert.equal(csvField(-5), '-5', 'numbers are numbers');
  });

  it('writes a JSON document page by page that parses whatever the page boundaries', () => {
    const orders = syntheticOrders('2026-03-01', 5);
    const whole = renderHeader('json', PERIOD) + renderOrders('json', orders, 0) + renderFooter('json', 5);
    const paged =
      renderHeader('json', PERIOD) +
      renderOrders('json', orders.slice(0, 2), 0) +
      renderOrders('json', orders.slice(2), 2) +
      renderFooter('json', 5);
    assert.equal(paged, whole);
    const parsed = JSON.parse(whole) as { from: string; orders: { orderId: string }[]; count: number };
    assert.equal(parsed.count, 5);
    assert.deepEqual(
      parsed.orders.map((o) => o.orderId),
      orders.map((o) => o.orderId),
    );
    assert.deepEqual(JSON.parse(renderHeader('json', PERIOD) + renderFooter('json', 0)), {
      from: PERIOD.from,
      to: PERIOD.to,
      orders: [],
      count: 0,
    });
  });
});

const PERIOD = { from: '2026-03-01', to: '2026-03-03' };

function syntheticOrders(day: string, count: number): ExportedOrder[] {
  return Array.from({ length: count }, (_, i) => ({
    completedOn: day,
    orderId: `ord_${day}_${i.toString().padStart(5, '0')}`,
    status: i % 4 === 0 ? 'compensated' : 'succeeded',
    totalCents: 1000 + i,
    lines: [{ sku: `SKU-${i % 3}`, quantity: 1 + (i % 2), priceCents: 500 }],
    ...(i % 4 === 0 ? { errorCode: 'PAYMENT_DECLINED' } : {}),
  }));
}

/** The ledger in memory: pages of `pageSize`, tokens are offsets (a real token is just as opaque to the export). */
function memoryPages(byDay: Record<string, ExportedOrder[]>, pageSize: number): OrderPages {
  return {
    page(day, token) {
      const all = byDay[day] ?? [];
      const start = token ? Number(token) : 0;
      const end = start + pageSize;
      return Promise.resolve({
        orders: all.slice(start, end),
        ...(end < all.length ? { continuationToken: String(end) } : {}),
      });
    },
  };
}

/**
 * A block blob in memory, with the service's rules: staged blocks are invisible until a commit; a commit takes each
 * id from the uncommitted blocks, else from the committed ones ("Latest"), and discards every other uncommitted block.
 */
class MemoryFile implements ExportFile {
  readonly path = 'exports/test.csv';
  readonly uncommitted = new Map<string, string>();
  committedBlocks = new Map<string, string>();
  committed: string | undefined;
  stagings = 0;
  failAtStaging: number | undefined;

  stageBlock(id: string, content: string): Promise<void> {
    this.stagings++;
    if (this.stagings === this.failAtStaging) return Promise.reject(new Error('host killed'));
    this.uncommitted.set(id, content);
    return Promise.resolve();
  }

  commit(ids: readonly string[]): Promise<{ bytes: number }> {
    const blocks = ids.map((id) => [id, this.uncommitted.get(id) ?? this.committedBlocks.get(id)] as const);
    const missing = blocks.filter(([, content]) => content === undefined);
    if (missing.length > 0) return Promise.reject(new Error(`InvalidBlockList: ${missing.length} missing`));
    this.committedBlocks = new Map(blocks.map(([id, content]) => [id, content ?? '']));
    this.uncommitted.clear();
    this.committed = blocks.map(([, content]) => content).join('');
    return Promise.resolve({ bytes: Buffer.byteLength(this.committed) });
  }
}

/** The job's checkpoint in memory, compare-and-swap like the ETag-conditional job write. */
class MemoryCheckpoints {
  stored: ExportCheckpoint | undefined;
  saves = 0;
  failAtSave: number | undefined;

  cancelled = false;
  moved = 0;

  save = (expected: ExportCheckpoint | undefined, next: ExportCheckpoint): Promise<CheckpointSave> => {
    this.saves++;
    if (this.saves === this.failAtSave) return Promise.reject(new Error('host killed'));
    if (this.cancelled) return Promise.resolve({ kind: 'cancelled' });
    if (JSON.stringify(this.stored ?? null) !== JSON.stringify(expected ?? null)) {
      this.moved++;
      return Promise.resolve({ kind: 'moved', stored: structuredClone(this.stored) });
    }
    this.stored = structuredClone(next);
    return Promise.resolve({ kind: 'saved' });
  };
}

function ports(pages: OrderPages, file: ExportFile, checkpoints: MemoryCheckpoints): ExportRunPorts {
  return { orders: pages, file, saveCheckpoint: checkpoints.save };
}

describe('export run', () => {
  const byDay = {
    '2026-03-01': syntheticOrders('2026-03-01', 23),
    '2026-03-02': [],
    '2026-03-03': syntheticOrders('2026-03-03', 10),
  };
  const all = [...byDay['2026-03-01'], ...byDay['2026-03-03']];

  for (const format of ['csv', 'json'] as const) {
    const spec: ExportSpec = { ...PERIOD, format };
    const expected = renderHeader(format, spec) + renderOrders(format, all, 0) + renderFooter(format, all.length);

    it(`writes every order once, in ledger order (${format})`, async () => {
      const file = new MemoryFile();
      const result = await runExport(spec, ports(memoryPages(byDay, 5), file, new MemoryCheckpoints()), undefined);
      assert.equal(file.committed, expected);
      assert.equal(result.orders, 33);
      assert.equal(result.pages, 7);
      assert.equal(result.bytes, Buffer.byteLength(expected));
    });

    it(`resumes after a crash at any point to the same file, whatever the page size (${format})`, async () => {
      for (let crash = 1; crash <= 16; crash++) {
        const file = new MemoryFile();
        const checkpoints = new MemoryCheckpoints();
        // Crash on a staging (odd) or on a checkpoint write (even): the two places a host can die.
        if (crash % 2 === 1) file.failAtStaging = Math.ceil(crash / 2);
        else checkpoints.failAtSave = crash / 2;
        await assert.rejects(runExport(spec, ports(memoryPages(byDay, 5), file, checkpoints), undefined));
        const resumed = await runExport(spec, ports(memoryPages(byDay, 4), file, checkpoints), checkpoints.stored);
        assert.equal(resumed.orders, all.length, `crash ${crash}`);
        assert.equal(file.committed, expected, `crash ${crash}`);
      }
    });
  }

  for (const format of ['csv', 'json'] as const) {
    it(`duplicate deliveries running at once never both extend the file; each commits it whole (${format})`, async () => {
      const spec: ExportSpec = { ...PERIOD, format };
      const expected = renderHeader(format, spec) + renderOrders(format, all, 0) + renderFooter(format, all.length);
      const file = new MemoryFile();
      const checkpoints = new MemoryCheckpoints();
      // Different page sizes: the storage service may page two readers differently.
      const results = await Promise.all([
        runExport(spec, ports(memoryPages(byDay, 3), file, checkpoints), undefined),
        runExport(spec, ports(memoryPages(byDay, 7), file, checkpoints), undefined),
        runExport(spec, ports(memoryPages(byDay, 5), file, checkpoints), undefined),
      ]);
      assert.ok(checkpoints.moved > 0, 'they did race');
      assert.deepEqual(
        results.map((r) => r.orders),
        [33, 33, 33],
      );
      assert.equal(file.committed, expected);
    });
  }

  it('stops at the next page when the job is cancelled, committing nothing', async () => {
    const spec: ExportSpec = { ...PERIOD, format: 'csv' };
    const file = new MemoryFile();
    const checkpoints = new MemoryCheckpoints();
    const pages = memoryPages(byDay, 5);
    let read = 0;
    const cancelling: OrderPages = {
      page: (day, token) => {
        if (++read === 3) checkpoints.cancelled = true; // with one page read ahead: while the second is saved
        return pages.page(day, token);
      },
    };
    await assert.rejects(runExport(spec, ports(cancelling, file, checkpoints), undefined), (error: unknown) => {
      assert.ok(error instanceof JobCancelledError);
      assert.equal(error.code, EXPORT_CANCELLED);
      return true;
    });
    assert.equal(file.committed, undefined);
    assert.equal(checkpoints.stored?.pages, 1);
  });

  it('fails for good (EXPORT_TOO_LARGE) rather than write more blocks than a blob can hold', async () => {
    const spec: ExportSpec = { from: '2026-03-01', to: '2026-03-01', format: 'csv' };
    const huge = { '2026-03-01': syntheticOrders('2026-03-01', MAX_EXPORT_BLOCKS) };
    const file = new MemoryFile();
    await assert.rejects(
      runExport(spec, ports(memoryPages(huge, 1), file, new MemoryCheckpoints()), undefined),
      (error: unknown) => error instanceof PermanentJobError && error.code === EXPORT_TOO_LARGE,
    );
    assert.equal(file.committed, undefined);
  });

  it('a delivery that finds the final checkpoint commits the same file again', async () => {
    const spec: ExportSpec = { ...PERIOD, format: 'json' };
    const file = new MemoryFile();
    const checkpoints = new MemoryCheckpoints();
    await runExport(spec, ports(memoryPages(byDay, 5), file, checkpoints), undefined);
    const first = file.committed;
    await runExport(spec, ports(memoryPages(byDay, 5), file, checkpoints), checkpoints.stored);
    assert.equal(file.committed, first);
  });
});
