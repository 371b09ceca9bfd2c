import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';

import { BlockBlobClient } from '@azure/storage-blob';

import { postJson, waitForJob } from '../support/api';
import { startApp } from '../support/appHost';
import { testImage } from '../support/images';

const MIB = 1024 * 1024;
/** The upload the security review used: twenty times the default 20 MiB limit. */
const UPLOAD_BYTES = 400 * MIB;
/** How far above its idle level the host may go while refusing that upload. */
const ALLOWED_GROWTH_BYTES = 50 * MIB;

/** Resident memory of a process, from /proc (Linux), in bytes. */
async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/** `bytes` of zeros as a stream of 4 MiB chunks: the test itself never holds the upload in memory. */
function zeros(bytes: number): Readable {
  const chunk = Buffer.alloc(4 * MIB);
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const size = Math.min(left, chunk.length);
      left -= size;
      this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
    },
  });
}

async function createUpload(
  host: Parameters<typeof postJson>[0],
  fileName: string,
): Promise<{ jobId: string; upload: { url: string } }> {
  const created = await postJson<{ jobId: string; upload: { url: string } }>(host, '/api/uploads', {
    fileName,
    contentType: 'image/png',
  });
  assert.equal(created.status, 201);
  return created.body;
}

describe(
  'an upload over the size limit',
  { skip: process.platform === 'linux' ? false : 'reads resident memory from /proc' },
  () => {
    it(`fails BLOB_TOO_LARGE without being read: host memory stays within ${ALLOWED_GROWTH_BYTES / MIB} MiB of idle`, async (t) => {
      const { host } = await startApp();
      try {
        const pid = host.child.pid ?? 0;
        // Warm up: one small upload through the whole path, so sharp and the storage clients are loaded.
        const small = await createUpload(host, 'warm.png');
        await new BlockBlobClient(small.upload.url).uploadData(await testImage(64, 64, 'png'));
        assert.equal((await waitForJob(host, small.jobId)).status, 'succeeded');
        const idleSamples: number[] = [];
        for (let i = 0; i < 10; i++) {
          idleSamples.push(await residentBytes(pid));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const idle = Math.max(...idleSamples);

        let peak = idle;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            peak = Math.max(peak, await residentBytes(pid));
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        })();
        const big = await createUpload(host, 'huge.png');
        try {
          await new BlockBlobClient(big.upload.url).uploadStream(zeros(UPLOAD_BYTES), 4 * MIB, 4);
          const job = await waitForJob(host, big.jobId, undefined, 120_000);
          assert.equal(job.status, 'failed');
          assert.equal(job.error?.code, 'BLOB_TOO_LARGE');
          assert.match(job.error?.message ?? '', new RegExp(`${UPLOAD_BYTES} bytes`));
        } finally {
          sampling = false;
          await sampler;
        }
        t.diagnostic(
          `host RSS idle ${(idle / MIB).toFixed(0)} MiB, peak ${(peak / MIB).toFixed(0)} MiB during a ${UPLOAD_BYTES / MIB} MiB upload`,
        );
        assert.ok(
          peak - idle < ALLOWED_GROWTH_BYTES,
          `host memory grew by ${((peak - idle) / MIB).toFixed(0)} MiB (idle ${(idle / MIB).toFixed(0)} MiB)`,
        );
      } finally {
        assert.equal(await host.stop(), 0);
      }
    });
  },
);
