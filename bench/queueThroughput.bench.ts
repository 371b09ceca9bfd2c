import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import type { BenchContext, BenchResult } from './benchContext';
import { DevhostChild } from './devhostChild';
import { median, percentile, round } from './stats';

const MESSAGES = 3000;
const ROUNDS = 3;
const RECEIVE_BATCH = 32;
const LATENCY_RATE_PER_SECOND = 100;
const LATENCY_SECONDS = 10;
const APP_DIR = path.resolve(__dirname, '..', '..', 'bench', 'apps', 'noop-queue');

async function fill(queue: QueueClient, count: number, body: () => string): Promise<void> {
  const PARALLEL = 32;
  let sent = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (sent < count) {
        sent++;
        await queue.sendMessage(Buffer.from(body()).toString('base64'));
      }
    }),
  );
}

/** Raw SDK consumption: receive a batch, delete each message (in parallel), until the queue is empty. */
async function rawThroughput(queue: QueueClient): Promise<number> {
  const started = performance.now();
  let done = 0;
  for (;;) {
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: RECEIVE_BATCH,
      visibilityTimeout: 600,
    });
    if (receivedMessageItems.length === 0) break;
    await Promise.all(receivedMessageItems.map((m) => queue.deleteMessage(m.messageId, m.popReceipt)));
    done += receivedMessageItems.length;
  }
  return done / ((performance.now() - started) / 1000);
}

const EXECUTED = /Executed 'Functions\.noop' \(Succeeded/;
const EXECUTING = /Executing 'Functions\.noop'/;

/**
 * The same work through devhost, run as users run it (a child process, logging in Core Tools' format): time from
 * the first invocation's start to the last one's end, read from the log timestamps.
 */
async function devhostThroughput(connectionString: string, queueName: string, count: number): Promise<number> {
  const host = new DevhostChild(APP_DIR, { AzureWebJobsStorage: connectionString, BENCH_QUEUE: queueName });
  try {
    await host.waitFor(`${count} invocations`, () => host.count(EXECUTED) >= count, 300_000);
  } finally {
    await host.stop();
  }
  const first = Math.min(...host.timestamps(EXECUTING));
  const last = Math.max(...host.timestamps(EXECUTED));
  return count / ((last - first) / 1000);
}

async function latencyUnderLoad(
  connectionString: string,
  queueName: string,
): Promise<{ p50: number; p99: number; samples: number }> {
  const host = new DevhostChild(APP_DIR, { AzureWebJobsStorage: connectionString, BENCH_QUEUE: queueName });
  const queue = new QueueClient(connectionString, queueName);
  const total = LATENCY_RATE_PER_SECOND * LATENCY_SECONDS;
  try {
    await host.waitFor('host start', () => host.count(/Host started/) > 0, 30_000);
    const started = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / LATENCY_RATE_PER_SECOND;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      sends.push(queue.sendMessage(Buffer.from(JSON.stringify({ sentAt: Date.now() })).toString('base64')));
    }
    await Promise.all(sends);
    await host.waitFor('all latency samples', () => host.count(/LATENCY \d+/) >= total, 60_000);
  } finally {
    await host.stop();
  }
  const latencies = host.lines
    .map((l) => /LATENCY (\d+)/.exec(l)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length };
}

/**
 * Queue-trigger throughput of a no-op function through devhost against raw receive+delete on the same Azurite, in
 * alternating rounds so both see the same machine load; and enqueue-to-start latency at a steady rate.
 */
export async function queueThroughputBench(context: BenchContext): Promise<BenchResult> {
  const raw: number[] = [];
  const hosted: number[] = [];
  for (let round_ = 1; round_ <= ROUNDS; round_++) {
    const rawQueue = new QueueClient(context.connectionString, `bench-raw-${randomBytes(4).toString('hex')}`);
    await rawQueue.create();
    await fill(rawQueue, MESSAGES, () => 'x');
    raw.push(await rawThroughput(rawQueue));
    await rawQueue.delete();

    const name = `bench-host-${randomBytes(4).toString('hex')}`;
    const hostQueue = new QueueClient(context.connectionString, name);
    await hostQueue.create();
    await fill(hostQueue, MESSAGES, () => 'x');
    hosted.push(await devhostThroughput(context.connectionString, name, MESSAGES));
    await hostQueue.delete();
    context.log(`round ${round_}: raw ${round(raw.at(-1) ?? 0)} msg/s, devhost ${round(hosted.at(-1) ?? 0)} msg/s`);
  }
  const latencyQueue = `bench-lat-${randomBytes(4).toString('hex')}`;
  await new QueueClient(context.connectionString, latencyQueue).create();
  const latency = await latencyUnderLoad(context.connectionString, latencyQueue);
  const ratio = median(hosted) / median(raw);
  const markdown = [
    `${MESSAGES} messages per round, ${ROUNDS} rounds alternating raw and devhost on one Azurite; medians.`,
    '',
    '| measure | value |',
    '|---|---|',
    `| raw \`receiveMessages\`(${RECEIVE_BATCH}) + \`deleteMessage\` | ${round(median(raw))} msg/s |`,
    `| devhost no-op queue function (batchSize 32, newBatchThreshold 16) | ${round(median(hosted))} msg/s |`,
    `| **ratio devhost / raw** (goal ≥ 0.9) | **${round(ratio)}** |`,
    `| enqueue-to-start latency at ${LATENCY_RATE_PER_SECOND} msg/s for ${LATENCY_SECONDS} s: p50 | ${round(latency.p50, 0)} ms |`,
    `| enqueue-to-start latency p99 (${latency.samples} samples) | ${round(latency.p99, 0)} ms |`,
    '',
    `Rounds: raw ${raw.map((r) => round(r)).join(', ')}; devhost ${hosted.map((r) => round(r)).join(', ')} msg/s.`,
  ].join('\n');
  return { title: 'Queue trigger: devhost against raw SDK consumption', markdown };
}
