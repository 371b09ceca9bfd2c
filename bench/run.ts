/**
 * `npm run bench`: starts one Azurite, runs each benchmark (or those named on the command line) and rewrites
 * bench/RESULTS.md with the figures, the machine and the command. Benchmarks report ratios measured side by side in
 * the same run, because these machines are shared and noisy.
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { startAzurite } from '../devhost/azurite';
import type { Benchmark, BenchResult } from './benchContext';
import { capacityBench } from './capacity.bench';
import { eventGridDetectionBench } from './eventGridDetection.bench';
import { exportBench } from './export.bench';
import { nightlyBench } from './nightly.bench';
import { orderThroughputBench } from './orderThroughput.bench';
import { queueThroughputBench } from './queueThroughput.bench';
import { thumbnailPipelineBench } from './thumbnailPipeline.bench';

const BENCHMARKS: Record<string, Benchmark> = {
  queue: queueThroughputBench,
  nightly: nightlyBench,
  thumbnails: thumbnailPipelineBench,
  orders: orderThroughputBench,
  capacity: capacityBench,
  eventgrid: eventGridDetectionBench,
  export: exportBench,
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);
  const unknown = selected.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0)
    throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  const azurite = await startAzurite();
  const results: (BenchResult & { name: string })[] = [];
  try {
    for (const name of selected) {
      const bench = BENCHMARKS[name];
      if (!bench) continue;
      console.log(`== ${name}`);
      const result = await bench({
        connectionString: azurite.connectionString,
        ...(azurite.process.pid === undefined ? {} : { azuritePid: azurite.process.pid }),
        log: (m) => console.log(`   ${m}`),
      });
      results.push({ ...result, name });
    }
  } finally {
    await azurite.stop();
  }
  const command = `npm run bench${names.length > 0 ? ` -- ${names.join(' ')}` : ''}`;
  const machine =
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, Azurite in memory on the same machine`;
  const file = path.resolve(__dirname, '..', '..', 'bench', 'RESULTS.md');
  let existing = '';
  try {
    existing = await readFile(file, 'utf8');
  } catch {
    existing = '';
  }
  // Each benchmark owns a marked section; a run replaces the sections of the benchmarks it ran and keeps the rest.
  const sections = new Map<string, string>();
  for (const match of existing.matchAll(/<!-- bench:(\w+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g)) {
    if (match[1] && match[2] !== undefined) sections.set(match[1], match[2]);
  }
  for (const r of results) {
    const when = new Date().toISOString().slice(0, 10);
    sections.set(r.name, `## ${r.title}\n\nCommand: \`${command}\` (${when}; ${machine}).\n\n${r.markdown}\n`);
  }
  const text = [
    '# Benchmark results',
    '',
    'Each section records the command that produced it. These machines are shared and noisy: compare the ratios measured',
    'side by side in one run, not absolute numbers across runs.',
    '',
    ...[...sections.entries()].flatMap(([name, body]) => [
      `<!-- bench:${name} -->`,
      body + `<!-- /bench:${name} -->`,
      '',
    ]),
  ].join('\n');
  await writeFile(file, text);
  console.log(text);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
