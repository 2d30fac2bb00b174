import { describe, expect, it } from 'vitest';
import { syntheticModel } from './html.fixture.ts';
import { escapeHtml, inlineMarkdown, namespaceSvg, renderHtml, safeRelativeHref } from './html.ts';

// The page in a real browser is tested in html.tools.test.ts (npm run test:tools, needs Chromium).

describe('renderHtml helpers', () => {
  it('escapes text and keeps only relative links', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(inlineMarkdown('**a** `<b>` [runs](runs.csv) [x](https://example.com) <i>')).toBe(
      '<strong>a</strong> <code>&lt;b&gt;</code> <a href="runs.csv">runs</a> x &lt;i&gt;',
    );
    expect(safeRelativeHref('requests/a b#1.csv')).toBe('requests/a%20b%231.csv');
    for (const bad of ['javascript:alert(1)', 'https://x', '//host/x', '/etc/passwd', 'data:text/html,x'])
      expect(safeRelativeHref(bad)).toBeUndefined();
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
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10"><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"/><use href="#clip1"/></svg>';
    expect(namespaceSvg(svg, 'chart-a')).toBe(
      '<svg width="10"><defs><clipPath id="chart-a-clip1"><rect/></clipPath></defs><g clip-path="url(#chart-a-clip1)"/><use href="#chart-a-clip1"/></svg>',
    );
  });
});
