// Opens report.html from disk in headless Chromium (Debian's `chromium`, driven by playwright-core):
// no console errors, no network request of any kind, every figure's SVG laid out, and a full-page
// screenshot saved under test/.out/report/ for a person to look at. Skipped, saying how to install
// Chromium, when none is found.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { writeReport } from '../../src/report/write.ts';
import { STUDY_REPORT } from '../../src/study/figures/index.ts';
import { writeFixtureRun } from './fixture.ts';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const executablePath = CANDIDATES.find((p) => existsSync(p));
const OUT = fileURLToPath(new URL('../.out/report/', import.meta.url));

test(
  'report.html opens in headless Chromium with no console errors and no network',
  {
    skip: executablePath ? false : 'no Chromium found: apt-get install chromium (Debian) to run this test',
    timeout: 60_000,
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lq-report-browser-'));
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      writeFixtureRun(dir);
      await writeReport(dir, STUDY_REPORT);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      const url = pathToFileURL(join(dir, 'report.html')).href;
      page.on('request', (r) => {
        if (r.url() !== url) requests.push(r.url());
      });
      await page.goto(url, { waitUntil: 'load' });
      assert.deepEqual(problems, [], 'console errors');
      assert.deepEqual(requests, [], 'the page must request nothing beyond itself');
      assert.equal(await page.locator('script').count(), 0, 'no script');
      // Every figure with data shows its chart with a real size.
      const sizes = await page
        .locator('section.figure figure svg')
        .evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.width, r.height]));
      assert.equal(sizes.length, 8);
      for (const [w, h] of sizes) assert.ok(w > 100 && h > 100, `chart laid out at ${w}×${h}`);
      mkdirSync(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, 'report.png'), fullPage: true });
      await page.emulateMedia({ media: 'print' });
      await page.pdf({ path: join(OUT, 'report.pdf'), format: 'A4', printBackground: true });
      assert.ok(existsSync(join(OUT, 'report.png')));
    } finally {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
