import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { type Browser, chromium, type Page } from 'playwright-core';

import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { testImage } from '../support/images';
import { storageClients } from '../support/storage';
import { waitFor } from '../support/wait';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const MASTER_KEY = 'test-master-key-dashboard';
const OUTPUT = path.resolve(__dirname, '..', '..', '..', 'test-output');
const MARKUP = '<img src=x onerror="window.__xss=1">';
/** Another origin than the page's, as behind a CDN or gateway: job links are absolute under it. */
const PUBLIC_BASE_URL = 'https://jobs.example.test';
const available = existsSync(CHROMIUM);
if (!available && process.env['CI']) throw new Error(`Chromium is required in CI but ${CHROMIUM} does not exist`);

describe(
  'dashboard in headless Chromium',
  { skip: available ? false : `Chromium not found at ${CHROMIUM}: install Debian's chromium (CI does)` },
  () => {
    let host: DevhostProcess;
    let prefix: string;
    let browser: Browser;
    let page: Page;
    const consoleErrors: string[] = [];
    /** The thumbnail responses the page received: URL, status and caching. */
    const thumbnailResponses: { url: string; status: number; cacheControl: string | undefined }[] = [];

    before(async () => {
      mkdirSync(OUTPUT, { recursive: true });
      ({ host, prefix } = await startApp({
        env: {
          DEVHOST_MASTER_KEY: MASTER_KEY,
          UPLOAD_ALLOWED_ORIGINS: '*',
          SEED_DEMO_CATALOGUE: 'true',
          PUBLIC_BASE_URL,
        },
        args: ['--enforce-keys'],
      }));
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--no-first-run',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
      // The console names only the status of a failed load: record which request it was, so a failure says.
      page.on('response', (response) => {
        if (response.status() >= 500) consoleErrors.push(`${response.status()} from ${response.url()}`);
        if (response.url().includes('/api/thumbnails/')) {
          const cacheControl = response.headers()['cache-control'];
          thumbnailResponses.push({ url: response.url(), status: response.status(), cacheControl });
        }
      });
      page.on('dialog', (dialog) => {
        consoleErrors.push(`unexpected dialog: ${dialog.message()}`);
        void dialog.dismiss();
      });
    });
    after(async () => {
      await browser?.close();
      assert.equal(await host?.stop(), 0);
    });

    it('says admin actions need the key when keys are enforced, instead of failing silently', async () => {
      await page.goto(host.url('/api/dashboard'));
      await page.getByText('Dead letters need the admin key on this host.').waitFor();
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-no-key.png'), fullPage: true });
      // The only errors allowed here are the browser's own notes about the refused (401) admin requests.
      assert.deepEqual(
        consoleErrors.filter((text) => !/status of 401/.test(text)),
        [],
      );
      consoleErrors.length = 0;
      await page.getByLabel('Admin key').fill(MASTER_KEY);
      await page.getByRole('button', { name: 'Use key' }).click();
      await page.getByText('Admin key set for this tab.').waitFor();
    });

    it('says so where there is nothing to show yet, instead of empty boxes', async () => {
      await page.getByText('No jobs in the last 24 hours.').waitFor();
      await page.getByText('No job finished in the last hour.').waitFor();
      await page.getByText('No daily report yet').waitFor();
      await page.getByText('No nightly run yet.').waitFor();
      await page.getByText('No jobs yet: start one below.').waitFor();
      assert.equal(await page.locator('#revenue-chart').isVisible(), false, 'no empty chart frame');
      assert.equal(await page.locator('#throughput-chart').isVisible(), false);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-empty.png'), fullPage: true });
    });

    it('starts an order from the page and shows it reach succeeded', async () => {
      await page.getByRole('button', { name: 'Place order' }).click();
      await page.locator('[data-detail-status="succeeded"]').waitFor({ timeout: 30_000 });
      // The timeline's last event is written just after the status: the next refresh shows it.
      await page
        .locator('#job-detail', { hasText: /Steps: reserve done → payment done → shipment done → email done/ })
        .waitFor({ timeout: 10_000 });
      const detail = await page.locator('#job-detail').textContent();
      assert.doesNotMatch(detail ?? '', /null|undefined/);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-order.png'), fullPage: true });
    });

    it('lists the order by its customer, counts it in the summary and draws it in the throughput chart', async () => {
      await page.locator('#job-rows tr', { hasText: 'Ada Lovelace, 1 item' }).waitFor();
      await page
        .locator('[data-summary-type="order"] [data-count="succeeded"]', { hasText: /^1$/ })
        .waitFor({ timeout: 20_000 });
      await page.locator('#last-hour-succeeded', { hasText: /^1$/ }).waitFor();
      await page.locator('#throughput-chart rect.bar-succeeded').first().waitFor();
      assert.equal(await page.locator('#throughput-empty').isVisible(), false);
      const title = await page.locator('#throughput-chart rect.bar-succeeded title').first().textContent();
      assert.match(title ?? '', /^\d\d:\d\d UTC: 1 succeeded$/);
      await page.locator('#summary').screenshot({ path: path.join(OUTPUT, 'dashboard-summary.png') });
    });

    it('finds a job by id, and says so when there is none', async () => {
      const id = await page.locator('#job-rows tr[data-job]').first().getAttribute('data-job');
      await page.getByRole('button', { name: 'Find' }).click(); // empty: nothing happens
      await page.getByLabel('Job id').fill('ord_doesnotexist');
      await page.getByRole('button', { name: 'Find' }).click();
      await page.getByText('No job ord_doesnotexist.').waitFor();
      // The browser notes the 404s of the lookup itself; nothing else may have gone wrong.
      assert.deepEqual(
        consoleErrors.filter((text) => !/status of 404/.test(text)),
        [],
      );
      consoleErrors.length = 0;
      assert.equal(await page.locator('#job-detail').isVisible(), false);
      await page.getByLabel('Job id').fill(id ?? '');
      await page.getByRole('button', { name: 'Find' }).click();
      await page.locator('#job-detail h3', { hasText: id ?? '' }).waitFor();
    });

    it('uploads an image from the page and shows its thumbnail preview', async () => {
      await page.locator('#upload-form input[type=file]').setInputFiles({
        name: 'sunset.png',
        mimeType: 'image/png',
        buffer: await testImage(640, 400, 'png'),
      });
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.locator('[data-detail-status="succeeded"]').waitFor({ timeout: 30_000 });
      const preview = page.locator('.thumbs img').first();
      await preview.waitFor();
      // Polled from the test, not with waitForFunction: that evaluates a string in the page, which the dashboard's
      // CSP (no 'unsafe-eval') rightly refuses.
      await waitFor('the thumbnail preview to load', () =>
        preview.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0),
      );
      // The version the job links (cached for good), on the page's own origin though the link names another one.
      const link = /"url": "([^"]+)"/.exec((await page.locator('#job-detail pre').textContent()) ?? '')?.[1] ?? '';
      assert.match(link, /^https:\/\/jobs\.example\.test\/api\/thumbnails\/128\/[^?]+\/sunset\.png\.webp\?v=[^&]+$/);
      const src = await preview.getAttribute('src');
      assert.equal(src, link.slice(PUBLIC_BASE_URL.length), 'the link, made relative');
      const loaded = thumbnailResponses.find((response) => response.url === host.url(src ?? ''));
      assert.equal(loaded?.status, 200);
      assert.equal(loaded?.cacheControl, 'public, max-age=31536000, immutable');
      await page.locator('#job-rows tr', { hasText: 'sunset.png' }).waitFor();
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-thumbnail.png'), fullPage: true });
    });

    it('shows a poisoned message with markup as text, and replays it from the page', async () => {
      const queue = storageClients().queues.getQueueClient(`${prefix}-order-reserve`);
      await queue.sendMessage(Buffer.from(JSON.stringify({ note: MARKUP })).toString('base64'));
      const uploads = storageClients().blobs.getContainerClient(`${prefix}-uploads`);
      await uploads.getBlockBlobClient(`${MARKUP}.png`).upload('not an image', 12);
      const letter = page.locator('[data-deadletter]').filter({ hasText: '"note"' }).first();
      await letter.waitFor({ timeout: 30_000 });
      await page.locator('[data-deadletter] h3', { hasText: MARKUP }).first().waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('#dl-list img').count(), 0, 'markup is shown as text, never parsed');
      assert.equal(await page.evaluate('window.__xss'), undefined);
      assert.match((await letter.locator('pre').textContent()) ?? '', /<img src=x onerror=/);
      const id = await letter.getAttribute('data-deadletter');
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-deadletters.png'), fullPage: true });
      await letter.getByRole('button', { name: 'Replay' }).click();
      await page.getByText('Dead letter replayed.').waitFor();
      await page.locator(`[data-deadletter="${id ?? ''}"]`).waitFor({ state: 'detached' });
      // The upload that is not an image failed: the summary and the chart show it.
      await page.locator('[data-summary-type="thumbnail"] [data-count="failed"]', { hasText: /^[1-9]/ }).waitFor();
      await page.locator('#throughput-chart rect.bar-failed').first().waitFor({ timeout: 20_000 });
      assert.notEqual(await page.locator('#last-hour-failed').textContent(), '0');
    });

    it('runs the nightly batch from the page', async () => {
      await page.getByRole('button', { name: 'Run now' }).click();
      await page.getByText(/Nightly batch nightly_\d+ started/).waitFor();
      await page.locator('[data-detail-status="succeeded"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-run] [data-status="succeeded"]').first().waitFor({ timeout: 10_000 });
      await page.locator('#revenue-chart text').first().waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('#revenue-empty').isVisible(), false);
      await page.locator('[data-summary-type="nightly"] [data-count="succeeded"]', { hasText: /^1$/ }).waitFor();
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-nightly.png'), fullPage: true });
    });

    it('fits a phone screen, works from the keyboard, and logged no console error', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-phone.png'), fullPage: true });
      await page.keyboard.press('Tab');
      const focused = await page.evaluate<string>('document.activeElement ? document.activeElement.tagName : ""');
      assert.ok(focused && focused !== 'BODY', 'Tab moves focus to a control');
      assert.deepEqual(consoleErrors, []);
    });
  },
);
