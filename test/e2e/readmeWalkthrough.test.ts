import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { JobSummary } from '../../shared/jobs/jobSummary';
import { getJson } from '../support/api';
import { DevhostProcess } from '../support/devhostProcess';

/*
 * The README's walkthrough cannot rot: its `sh` blocks are run, in order, in one bash session, against the app started
 * the way `npm start` starts it (embedded Azurite), on free ports. README_TEST_ECHO=1 prints what the reader would see.
 */

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The whole walkthrough, waits included, must finish within this. */
const SCRIPT_TIMEOUT_MS = 300_000;
const BLOCK_END = '::walkthrough-block-end::';

/**
 * The `sh` blocks between `<!-- walkthrough:start -->` and `<!-- walkthrough:end -->`, in order, leaving out a block
 * right after a `<!-- walkthrough:skip … -->` comment (which says why).
 */
export function walkthroughBlocks(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === '<!-- walkthrough:start -->');
  const end = lines.findIndex((line) => line.trim() === '<!-- walkthrough:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no <!-- walkthrough:start/end --> section');
  const blocks: string[] = [];
  let skipNext = false;
  let block: string[] | undefined;
  for (const line of lines.slice(start + 1, end)) {
    if (block) {
      if (line.trim() === '```') {
        if (!skipNext) blocks.push(block.join('\n'));
        skipNext = false;
        block = undefined;
      } else block.push(line);
    } else if (line.startsWith('<!-- walkthrough:skip')) skipNext = true;
    else if (line.trim() === '```sh') block = [];
  }
  return blocks;
}

function available(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const missing = ['curl', 'jq', 'az'].filter((command) => !available(command));
if (missing.length > 0 && process.env['CI']) {
  throw new Error(`the README test needs ${missing.join(', ')} in CI (.ci/run installs them)`);
}

/** Runs the script with bash, in `cwd`, and gives up (killing it and its children) after the timeout. */
function runBash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      output += `\n[killed after ${SCRIPT_TIMEOUT_MS} ms]`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, SCRIPT_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe(
  "the README's walkthrough, run as written",
  { skip: missing.length > 0 ? `needs ${missing.join(', ')} (CI installs them)` : false },
  () => {
    let dir: string;
    let host: DevhostProcess;
    let blocks: string[];
    let outputs: string[] = [];
    let run: { code: number | null; output: string };

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'readme-walkthrough-'));
      blocks = walkthroughBlocks(await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8'));
      // What `npm start` runs, on free ports: the embedded Azurite with its data in a folder of its own.
      host = await DevhostProcess.start({
        app: '.',
        env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true' },
        args: [
          '--azurite',
          path.join(dir, '.azurite'),
          '--azurite-blob-port',
          '0',
          '--azurite-queue-port',
          '0',
          '--azurite-table-port',
          '0',
        ],
      });
      const started = /Embedded Azurite started on blob (\d+), queue (\d+), table (\d+)/.exec(
        host.lines(/Embedded Azurite started/)[0] ?? '',
      );
      assert.ok(started, 'devhost names the ports of the embedded Azurite');
      const [, blob, queue, table] = started;
      const script = blocks
        .map((block) =>
          block
            .replaceAll('localhost:7071', `localhost:${host.port}`)
            .replaceAll('127.0.0.1:10000', `127.0.0.1:${blob}`)
            .replaceAll('127.0.0.1:10001', `127.0.0.1:${queue}`)
            .replaceAll('127.0.0.1:10002', `127.0.0.1:${table}`),
        )
        .join(`\necho '${BLOCK_END}'\n`);
      run = await runBash(`set -euo pipefail\n${script}\necho '${BLOCK_END}'\n`, dir, {
        ...process.env,
        // The README runs `node -e "require('sharp')…"` in the repo folder; here it runs in a scratch folder.
        NODE_PATH: path.join(REPO_ROOT, 'node_modules'),
        AZURE_CONFIG_DIR: path.join(dir, 'azure-cli'),
        AZURE_CORE_COLLECT_TELEMETRY: 'false',
        AZURE_CORE_NO_COLOR: 'true',
      });
      outputs = run.output.split(`${BLOCK_END}\n`);
      if (process.env['README_TEST_ECHO']) process.stderr.write(run.output);
    });
    after(async () => {
      assert.equal(await host?.stop(), 0);
      await rm(dir, { recursive: true, force: true });
    });

    /** The output of the one block whose commands match `command`. */
    function outputOf(command: RegExp): string {
      const matching = blocks.map((block, index) => (command.test(block) ? index : -1)).filter((i) => i >= 0);
      assert.equal(matching.length, 1, `exactly one README block runs ${command}`);
      return outputs[matching[0] ?? -1] ?? '';
    }

    it('finds the blocks, skipping only the one that starts the app', () => {
      assert.ok(blocks.length >= 14, `only ${blocks.length} blocks found`);
      assert.ok(!blocks.some((block) => /^npm start/m.test(block)), 'the app is started by the test');
    });

    it('runs every command without error', () => {
      assert.equal(run.code, 0, `the walkthrough stopped (exit ${run.code}):\n${run.output.slice(-4000)}`);
      assert.equal(outputs.length, blocks.length + 1, 'every block ran to its end');
    });

    it('shows what the prose says: the order accepted, succeeded, and a bad body named field by field', () => {
      assert.match(outputOf(/"status"|api\/health/), /"status": "healthy"/);
      const accepted = outputOf(/curl -si http:\/\/localhost:\d+\/api\/orders/);
      assert.match(accepted, /^HTTP\/1\.1 202/m);
      assert.match(accepted, /^location: \/api\/jobs\/ord_[\w-]+/im);
      assert.match(accepted, /^retry-after: \d+/im);
      assert.match(accepted, /"cancelToken"/);
      const finished = outputOf(/wait_for_job "\$ORDER"/);
      assert.match(finished, /"status": "succeeded"/);
      assert.match(finished, /step-done: .*email/);
      const invalid = outputOf(/"items": \[\]\}'/);
      assert.match(invalid, /"status": 400/);
      for (const field of ['customer.email', 'items', 'payment', 'shippingAddress']) {
        assert.ok(invalid.includes(`"${field}`), `the 400 names ${field}`);
      }
    });

    it('uploads through the valet key and straight into uploads, and finds both jobs', () => {
      const valet = outputOf(/x-ms-blob-type: BlockBlob' -H 'content-type: image\/png' --data-binary @sunset/);
      assert.match(valet, /"x-ms-blob-type": "BlockBlob"/);
      assert.match(valet, /^201$/m);
      const thumbnails = outputOf(/UPLOAD_JOB=/);
      assert.match(thumbnails, /"status": "succeeded"/);
      assert.match(thumbnails, /"width": 128/);
      assert.match(thumbnails, /^200 image\/webp$/m);
      assert.match(thumbnails, /"url": "\/api\/thumbnails\/128\/upl_[\w-]+\/sunset\.png\.webp\?v=[\w%-]+"/);
      const caching = outputOf(/If-None-Match: \$ETAG/);
      assert.match(caching, /^cache-control: public, max-age=31536000, immutable\r?$/im);
      assert.match(caching, /^304$/m);
      const direct = outputOf(/jq '\.jobs\[0\] \| \{id, "label": \.label, status\}'/);
      assert.match(direct, /"id": "thm_[\w-]{22}"/);
      assert.match(direct, /"label": "holiday\/beach\.png"/);
      assert.match(direct, /"status": "succeeded"/);
    });

    it('dead-letters the broken upload, replays it, then discards the second failure', () => {
      const failed = outputOf(/echo 'this is not an image'/);
      assert.match(failed, /"code": "NOT_AN_IMAGE"/);
      assert.match(failed, /"status": "failed"/);
      const replayed = outputOf(/\/replay"/);
      assert.match(replayed, /"state": "replayed"/);
      assert.match(replayed, /"attempts": 2/);
      assert.match(outputOf(/-X DELETE/), /"state": "discarded"/);
    });

    it("runs the nightly batch with today's order in its report, and the summary counts it all", async () => {
      const nightly = outputOf(/batch\/nightly\/run/);
      assert.match(nightly, /"status": "succeeded"/);
      assert.match(nightly, /"orders": 1/);
      assert.match(outputOf(/stats\/jobs/), /"lastHour"/);
      // Checked from here too, not only through the README's own output.
      const { body } = await getJson<JobSummary>(host, '/api/stats/jobs');
      assert.equal(body.counts['order']?.succeeded, 1);
      assert.equal(body.counts['thumbnail']?.succeeded, 2);
      assert.equal(body.counts['thumbnail']?.failed, 1);
      assert.equal(body.counts['nightly']?.succeeded, 1);
      const open = await getJson<{ deadLetters: unknown[] }>(host, '/api/deadletters?state=open');
      assert.deepEqual(open.body.deadLetters, [], 'the walkthrough leaves no open dead letter');
    });
  },
);
