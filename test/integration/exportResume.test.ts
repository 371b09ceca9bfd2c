import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { type SalesFact, SalesFacts } from '../../shared/batch/salesFacts';
import { type ExportFile, exportFile } from '../../shared/exports/exportBlob';
import type { ExportCheckpoint } from '../../shared/exports/exportCheckpoint';
import { ledgerOrderPages } from '../../shared/exports/orderPages';
import { type CheckpointSave, type ExportRunPorts, type ExportSpec, runExport } from '../../shared/exports/runExport';
import { storageClients, uniqueName } from '../support/storage';

/** The job's checkpoint, compare-and-swap as the ETag-conditional job write is. */
class Checkpoints {
  stored: ExportCheckpoint | undefined;

  save = (expected: ExportCheckpoint | undefined, next: ExportCheckpoint): Promise<CheckpointSave> => {
    if (JSON.stringify(this.stored ?? null) !== JSON.stringify(expected ?? null)) {
      return Promise.resolve({ kind: 'moved', stored: structuredClone(this.stored) });
    }
    this.stored = structuredClone(next);
    return Promise.resolve({ kind: 'saved' });
  };
}

function facts(day: string, count: number): SalesFact[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `ord_${day.replace(/-/g, '')}_${i.toString().padStart(4, '0')}`,
    status: 'succeeded',
    totalCents: 100 + i,
    lines: [{ sku: 'MUG-1', quantity: 1, priceCents: 100 + i }],
  }));
}

describe('an export resumed from its checkpoint (blobs, Table Storage)', () => {
  const clients = storageClients();
  let sales: SalesFacts;
  let exports: ContainerClient;
  const spec: ExportSpec = { from: '2026-03-01', to: '2026-03-02', format: 'csv' };

  before(async () => {
    sales = new SalesFacts(clients.table(uniqueName('sales')));
    await sales.ensureTable();
    await sales.recordMany('2026-03-01', facts('2026-03-01', 30));
    await sales.recordMany('2026-03-02', facts('2026-03-02', 12));
    exports = clients.blobs.getContainerClient(uniqueName('exports-'));
    await exports.create();
  });

  function ports(file: ExportFile, checkpoints: Checkpoints): ExportRunPorts {
    return { orders: ledgerOrderPages(sales), file, saveCheckpoint: checkpoints.save };
  }

  it('a run killed before its commit, resumed after its staged blocks were discarded, writes the whole file', async () => {
    const jobId = uniqueName('exp_');
    const checkpoints = new Checkpoints();
    const file = exportFile(exports, jobId, spec.format);
    // The host dies as it commits: every page is staged and checkpointed, nothing is committed.
    const dying: ExportFile = { ...file, path: file.path, commit: () => Promise.reject(new Error('host killed')) };
    await assert.rejects(runExport(spec, ports(dying, checkpoints), undefined), /host killed/);
    assert.equal(checkpoints.stored?.orders, 42);

    // Uncommitted blocks do not last: the service discards them a week after the last was staged (the job was
    // poisoned, say, and its dead letter replayed later than that). Committing an empty list discards them as well;
    // deleting that empty blob leaves what the week leaves: no blob, no blocks.
    const blob = exports.getBlockBlobClient(`${jobId}.csv`);
    await blob.commitBlockList([]);
    await blob.delete();

    // The replay resumes from the checkpoint, which names blocks that are gone.
    const result = await runExport(spec, ports(file, checkpoints), checkpoints.stored);
    assert.equal(result.orders, 42);

    // The same file a run that never stopped writes.
    const clean = uniqueName('exp_');
    await runExport(spec, ports(exportFile(exports, clean, spec.format), new Checkpoints()), undefined);
    const expected = (await exports.getBlobClient(`${clean}.csv`).downloadToBuffer()).toString();
    assert.equal((await blob.downloadToBuffer()).toString(), expected);
    assert.equal(expected.split('\n').filter((line) => line.startsWith('2026-')).length, 42);
  });
});
