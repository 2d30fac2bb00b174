import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { writeRequestsFile } from '../experiment/requests-file.ts';
import { makeRecords, mixedHeader, mixedRuns } from './charts/test-fixtures.ts';
import { escapeHtml, inlineMarkdown, namespaceSvg, renderHtml, safeRelativeHref } from './html.ts';
import type { ReportModel } from './model.ts';
import { reportChartSpecs, writeCharts } from './render-chart.ts';

const CHROMIUM = '/usr/bin/chromium';
/** The one browser global the test calls; the project compiles without the DOM library. */
interface BrowserGlobals {
  getComputedStyle(el: unknown): { textAlign: string };
}
const SCREENSHOT_COPY = '/tmp/report-screenshot.png';

function syntheticModel(): ReportModel {
  const runs = mixedRuns();
  return {
    title: 'MTTR report: synthetic <test> & "quotes"',
    header: mixedHeader(runs),
    runs,
    sections: [
      {
        id: 'summary',
        title: 'Runs per arm',
        paragraphs: ['Platform **local**, time scale **10×**; see `runs.csv`.', 'A hostile value stays text: <script>alert("x")</script> & <img src=x onerror=alert(1)>.'],
        tables: [
          {
            id: 'summary',
            title: 'Runs per arm',
            note: 'MTTR = recover − impact; censored runs kept.',
            columns: ['scenario', 'arm', 'n', 'MTTR median [IQR] s'],
            align: ['l', 'l', 'r', 'r'],
            rows: [
              ['faulty', 'manual', '4', '152.0 [110.8–188.8]'],
              ['faulty', 'flagger', '3', '30.0 [29.8–31.5]'],
              ['<script>document.title="pwned"</script>', 'flagger', '1', '—'],
            ],
          },
        ],
      },
      {
        id: 'comparison',
        title: 'Manual against Flagger',
        paragraphs: [],
        tables: [{ id: 'comparison', title: 'Differences', columns: ['scenario', 'difference F − M [95% CI] s'], align: ['l', 'r'], rows: [['faulty', '-122.0 [-171.0, -67.0]']] }],
      },
    ],
    problems: ['journal.jsonl:9: incomplete last line (the harness stopped while writing it); line skipped'],
  };
}

describe('renderHtml helpers', () => {
  it('escapes text and keeps only relative links', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(inlineMarkdown('**a** `<b>` [runs](runs.csv) [x](https://example.com) <i>')).toBe(
      '<strong>a</strong> <code>&lt;b&gt;</code> <a href="runs.csv">runs</a> x &lt;i&gt;',
    );
    expect(safeRelativeHref('requests/a b#1.csv')).toBe('requests/a%20b%231.csv');
    for (const bad of ['javascript:alert(1)', 'https://x', '//host/x', '/etc/passwd', 'data:text/html,x']) expect(safeRelativeHref(bad)).toBeUndefined();
  });

  it('shows the parsed Flagger intervals in seconds, as the scenario files write them', () => {
    const html = renderHtml(syntheticModel(), []);
    // Scenarios faulty (interval 10s), slow and healthy (defaults: 30s, checks over 1m).
    const cells = (field: string) => {
      const row = html.match(new RegExp(`<code>${field}</code></th>(.*?)</tr>`))?.[1] ?? '';
      return [...row.matchAll(/>([^<]+)</g)].map((m) => m[1]);
    };
    expect(cells('intervalMs')).toEqual(['10 s', '30 s', '30 s']);
    expect(cells('requestSuccessRate\\.intervalMs')).toEqual(['60 s', '60 s', '60 s']);
  });

  it('prefixes SVG ids and their references so inlined charts cannot collide', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10"><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"/><use href="#clip1"/></svg>';
    expect(namespaceSvg(svg, 'chart-a')).toBe(
      '<svg width="10"><defs><clipPath id="chart-a-clip1"><rect/></clipPath></defs><g clip-path="url(#chart-a-clip1)"/><use href="#chart-a-clip1"/></svg>',
    );
  });
});

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
      for (const run of model.runs) writeRequestsFile(path.join(dir, run.requestsFile), makeRecords(run, { faulty: run.scenario !== 'healthy' }));
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
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
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
      expect(await page.locator('#t-summary td').filter({ hasText: '<script>document.title="pwned"</script>' }).count()).toBe(1);
      expect(await page.locator('#t-summary td.num').first().evaluate((el) => (globalThis as unknown as BrowserGlobals).getComputedStyle(el).textAlign)).toBe('right');
      expect(await page.locator('#t-comparison').count()).toBe(1);
      // Contents point at sections that exist.
      const targets = await page.locator('nav.toc a').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
      expect(targets).toEqual(expect.arrayContaining(['#s-summary', '#charts', '#s-comparison', '#scenario-parameters', '#operator-models', '#runs', '#files', '#problems']));
      for (const t of targets) expect(await page.locator(t).count(), t).toBe(1);
      // Scenario parameters, operator sources and data links.
      await expect(page.locator('#scenario-parameters th').filter({ hasText: 'slow' }).count()).resolves.toBe(1);
      await expect(page.locator('#scenario-parameters tr.differs').count()).resolves.toBeGreaterThan(0);
      await expect(page.locator('#operator-models').innerText()).resolves.toContain('Source: assumed (docs/design.md §6): a person <glancing> at the panel & reacting');
      for (const f of ['runs.csv', 'summary.json', 'journal.jsonl', 'requests/']) expect(await page.locator(`#files a[href="${f}"]`).count(), f).toBe(1);
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
