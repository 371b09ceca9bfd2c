import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import { freePort } from '../test/support/freePort';
import type { BenchContext, BenchResult } from './benchContext';
import { DevhostChild } from './devhostChild';
import { percentile, round } from './stats';

const EXISTING_BLOBS = 10_000;
const PROBES = 12;
const APP = path.resolve(__dirname, '..', '..', 'bench', 'apps', 'eventgrid-blob');

async function fill(container: ContainerClient, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        const i = next++;
        await container.getBlockBlobClient(`existing/${i.toString().padStart(6, '0')}.txt`).upload('x', 1);
      }
    }),
  );
}

interface Variant {
  label: string;
  detection: 'scan' | 'front';
  container: ContainerClient;
  existing: number;
}

/** Upload → function start for PROBES blobs uploaded one after another, through devhost's local Event Grid. */
async function measure(context: BenchContext, variant: Variant): Promise<number[]> {
  const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(context.connectionString)?.[1] ?? '';
  const upstream = new URL(blobEndpoint);
  const env: Record<string, string> = {
    AzureWebJobsStorage: context.connectionString,
    BENCH_CONTAINER: variant.container.containerName,
    AzureFunctionsWebHost__hostid: `bench-eg-${randomBytes(4).toString('hex')}`,
  };
  let uploadTo = variant.container;
  if (variant.detection === 'front') {
    const port = await freePort();
    const frontEndpoint = `http://127.0.0.1:${port}${upstream.pathname}`;
    env['DEVHOST_BLOB_FRONT_PORT'] = String(port);
    env['DEVHOST_BLOB_FRONT_UPSTREAM'] = upstream.origin;
    // The app and the uploader both talk to the front, as `npm start` arranges with its embedded Azurite.
    env['AzureWebJobsStorage'] = context.connectionString.replace(blobEndpoint, frontEndpoint);
    uploadTo = BlobServiceClient.fromConnectionString(env['AzureWebJobsStorage']).getContainerClient(
      variant.container.containerName,
    );
  }
  const host = new DevhostChild(APP, env);
  const latencies: number[] = [];
  try {
    await host.waitFor('start', () => host.count(/Host started/) > 0, 120_000);
    for (let i = 0; i < PROBES; i++) {
      // A varying pause, so probes land at different points of a scan cycle.
      await new Promise((resolve) => setTimeout(resolve, 150 + ((i * 397) % 900)));
      const name = `probe-${i}.txt`;
      const sentAt = Date.now();
      await uploadTo.getBlockBlobClient(name).upload('probe', 5);
      const pattern = new RegExp(`STARTED ${name.replace('.', '\\.')} (\\d+)`);
      await host.waitFor(name, () => host.lines.some((line) => pattern.test(line)), 60_000);
      const line = host.lines.find((l) => pattern.test(l)) ?? '';
      latencies.push(Number(pattern.exec(line)?.[1]) - sentAt);
    }
  } finally {
    await host.stop();
  }
  context.log(
    `${variant.label}: p50 ${percentile(latencies, 50)} ms, p90 ${percentile(latencies, 90)} ms (${latencies.join(', ')})`,
  );
  return latencies;
}

/**
 * Devhost's local Event Grid: how long from an upload until the Event Grid–source function starts, with an empty
 * container and with 10,000 blobs already in it, for the two ways devhost learns of writes — the changes-only scan
 * (lists the whole container each pass) and the blob front (sees the commit itself).
 */
export async function eventGridDetectionBench(context: BenchContext): Promise<BenchResult> {
  const blobs = BlobServiceClient.fromConnectionString(context.connectionString);
  const empty = blobs.getContainerClient(`egempty${randomBytes(4).toString('hex')}`);
  const full = blobs.getContainerClient(`egfull${randomBytes(4).toString('hex')}`);
  await Promise.all([empty.create(), full.create()]);
  const filledAt = Date.now();
  await fill(full, EXISTING_BLOBS);
  context.log(`${EXISTING_BLOBS} blobs written in ${Date.now() - filledAt} ms`);
  const variants: Variant[] = [
    { label: 'scan, empty container', detection: 'scan', container: empty, existing: 0 },
    { label: 'front, empty container', detection: 'front', container: empty, existing: 0 },
    { label: `scan, ${EXISTING_BLOBS} blobs`, detection: 'scan', container: full, existing: EXISTING_BLOBS },
    { label: `front, ${EXISTING_BLOBS} blobs`, detection: 'front', container: full, existing: EXISTING_BLOBS },
  ];
  const rows: { variant: Variant; latencies: number[] }[] = [];
  for (const variant of variants) rows.push({ variant, latencies: await measure(context, variant) });
  const p50 = (label: string) => percentile(rows.find((r) => r.variant.label === label)?.latencies ?? [], 50);
  const ratio = round(p50(`scan, ${EXISTING_BLOBS} blobs`) / p50(`front, ${EXISTING_BLOBS} blobs`), 1);
  const table = [
    '| detection | blobs already in the container | p50 (ms) | p90 (ms) | max (ms) |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      ({ variant, latencies }) =>
        `| ${variant.detection} | ${variant.existing} | ${percentile(latencies, 50)} | ${percentile(latencies, 90)} | ${Math.max(...latencies)} |`,
    ),
  ];
  return {
    title: 'Event Grid–source blob trigger: upload → function start',
    markdown: [
      `${PROBES} uploads one after another per row, each timed from just before the upload to the function's first line ` +
        '(same clock). The function is `source: EventGrid`; devhost raises `BlobCreated` and delivers it through its ' +
        '`/runtime/webhooks/blobs` endpoint, then runs the function from the blob trigger queue. "scan" is the ' +
        'changes-only listing (every 2 s), "front" is the blob front that sees each commit.',
      '',
      ...table,
      '',
      `With ${EXISTING_BLOBS} blobs, the front starts the function ${ratio}x sooner than the scan at the median. ` +
        'The front does constant work per upload; the scan lists the whole container each pass.',
    ].join('\n'),
  };
}
