import { describe, expect, it } from 'vitest';
import { escapeHtml, inlineMarkdown, namespaceSvg, safeRelativeHref } from './html.ts';

// The page in a real browser is tested in html.tools.test.ts (npm run test:tools, needs Chromium).

describe('renderHtml helpers', () => {
  it('escapes text and keeps only relative links', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(inlineMarkdown('**a** `<b>` [runs](runs.csv) [x](https://example.com) <i>')).toBe(
      '<strong>a</strong> <code>&lt;b&gt;</code> <a href="runs.csv">runs</a> x &lt;i&gt;',
    );
    expect(safeRelativeHref('requests/a b#1.csv')).toBe('requests/a%20b%231.csv');
    for (const bad of ['javascript:alert(1)', 'https://x', '//host/x', '/etc/passwd', 'data:text/html,x']) expect(safeRelativeHref(bad)).toBeUndefined();
  });

  it('prefixes SVG ids and their references so inlined charts cannot collide', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10"><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"/><use href="#clip1"/></svg>';
    expect(namespaceSvg(svg, 'chart-a')).toBe(
      '<svg width="10"><defs><clipPath id="chart-a-clip1"><rect/></clipPath></defs><g clip-path="url(#chart-a-clip1)"/><use href="#chart-a-clip1"/></svg>',
    );
  });
});
