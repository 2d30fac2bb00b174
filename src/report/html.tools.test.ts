import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { writeRequestsFile } from '../experiment/requests-file.ts';
import { makeRecords } from './charts/test-fixtures.ts';
import { syntheticModel } from './html.fixture.ts';
import { renderHtml } from './html.ts';
import { reportChartSpecs, writeCharts } from './render-chart.ts';

// Tools tier (npm run test:tools): opens report.html in Debian's Chromium.
const CHROMIUM = '/usr/bin/chromium';
/** The one browser global the test calls; the project compiles without the DOM library. */
interface BrowserGlobals {
  getComputedStyle(el: unknown): { textAlign: string };
}
const SCREENSHOT_COPY = '/tmp/report-screenshot.png';

describe('report.html in Chromium', () => {
  it('opens offline with every chart drawn, no console error and no network request', async () => {
    // CI installs Chromium; a machine without it must fail here rather than pass without a check.
    expect(
      existsSync(CHROMIUM),
      `${CHROMIUM} not found: this test opens report.html in a real browser. Install Debian's Chromium with "apt-get update && apt-get install -y chromium".`,
    ).toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), 'report-html-'));
    const profile = mkdtempSync(path.join(tmpdir(), 'report-html-profile-'));
    let context: BrowserContext | undefined;
    try {
      const model = syntheticModel();
      mkdirSync(path.join(dir, 'requests'));
      for (const run of model.runs)
        writeRequestsFile(path.join(dir, run.requestsFile), makeRecords(run, { faulty: run.scenario !== 'healthy' }));
      const charts = await writeCharts(dir, reportChartSpecs(dir, model.header, model.runs));
      expect(charts.map((c) => c.id)).toEqual(['mttr', 'kaplan-meier', 'phases', 'timelines']);
      const html = renderHtml(model, charts);
      const file = path.join(dir, 'report.html');
      writeFileSync(file, html);

      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script/i);
      expect(html).toContain('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;');

      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1280, height: 900 },
      });
      const page = await context.newPage();
      const consoleErrors: string[] = [];
      const failed: string[] = [];
      const requested: string[] = [];
      page.on('console', (msg) => {
        if (msg.type() === 'error') consoleErrors.push(msg.text());
      });
      page.on('pageerror', (err) => consoleErrors.push(err.message));
      page.on('requestfailed', (req) => failed.push(`${req.url()}: ${req.failure()?.errorText ?? ''}`));
      page.on('request', (req) => requested.push(req.url()));

      const url = pathToFileURL(file).href;
      await page.goto(url, { waitUntil: 'load' });

      expect(consoleErrors).toEqual([]);
      expect(failed).toEqual([]);
      expect(requested).toEqual([url]);
      expect(await page.title()).toBe(model.title);
      expect(await page.locator('script').count()).toBe(0);

      for (const chart of charts) {
        const svg = page.locator(`#chart-${chart.id} svg`).first();
        const box = await svg.boundingBox();
        expect(box, chart.id).not.toBeNull();
        expect(box!.width, chart.id).toBeGreaterThan(100);
        expect(box!.height, chart.id).toBeGreaterThan(100);
        expect(await page.locator(`#chart-${chart.id} svg .role-mark > *`).count(), chart.id).toBeGreaterThan(0);
        expect(await page.locator(`#chart-${chart.id} a[href="${chart.specPath}"]`).count(), chart.id).toBe(1);
        expect(await page.locator(`#chart-${chart.id} a[href="${chart.pngPath}"]`).count(), chart.id).toBe(1);
      }
      // Every table of the model, numeric columns right-aligned; hostile text shown as text.
      expect(
        await page.locator('#t-summary td').filter({ hasText: '<script>document.title="pwned"</script>' }).count(),
      ).toBe(1);
      expect(
        await page
          .locator('#t-summary td.num')
          .first()
          .evaluate((el) => (globalThis as unknown as BrowserGlobals).getComputedStyle(el).textAlign),
      ).toBe('right');
      expect(await page.locator('#t-comparison').count()).toBe(1);
      // Contents point at sections that exist.
      const targets = await page
        .locator('nav.toc a')
        .evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
      expect(targets).toEqual(
        expect.arrayContaining([
          '#s-summary',
          '#charts',
          '#s-comparison',
          '#scenario-parameters',
          '#operator-models',
          '#runs',
          '#files',
          '#problems',
        ]),
      );
      for (const t of targets) expect(await page.locator(t).count(), t).toBe(1);
      // Scenario parameters, operator sources and data links.
      await expect(page.locator('#scenario-parameters th').filter({ hasText: 'slow' }).count()).resolves.toBe(1);
      await expect(page.locator('#scenario-parameters tr.differs').count()).resolves.toBeGreaterThan(0);
      await expect(page.locator('#operator-models').textContent()).resolves.toContain(
        'Source: assumed (docs/design.md §6): a person <glancing> at the panel & reacting',
      );
      for (const f of ['runs.csv', 'summary.json', 'journal.jsonl', 'requests/'])
        expect(await page.locator(`#files a[href="${f}"]`).count(), f).toBe(1);
      expect(await page.locator('#runs a[href="requests/faulty-manual-r3.csv"]').count()).toBe(1);

      const shot = path.join(dir, 'report-screenshot.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      copyFileSync(shot, SCREENSHOT_COPY);
    } finally {
      await context?.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
