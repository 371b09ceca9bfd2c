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

    before(async () => {
      mkdirSync(OUTPUT, { recursive: true });
      ({ host, prefix } = await startApp({
        env: { DEVHOST_MASTER_KEY: MASTER_KEY, UPLOAD_ALLOWED_ORIGINS: '*', SEED_DEMO_CATALOGUE: 'true' },
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

    it('starts an order from the page and shows it reach succeeded', async () => {
      await page.getByRole('button', { name: 'Place order' }).click();
      await page.locator('[data-detail-status="succeeded"]').waitFor({ timeout: 30_000 });
      const detail = await page.locator('#job-detail').textContent();
      assert.match(detail ?? '', /Steps: reserve done → payment done → shipment done → email done/);
      assert.doesNotMatch(detail ?? '', /null|undefined/);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-order.png'), fullPage: true });
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
    });

    it('runs the nightly batch from the page', async () => {
      await page.getByRole('button', { name: 'Run now' }).click();
      await page.getByText(/Nightly batch nightly_\d+ started/).waitFor();
      await page.locator('[data-detail-status="succeeded"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-run] [data-status="succeeded"]').first().waitFor({ timeout: 10_000 });
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
