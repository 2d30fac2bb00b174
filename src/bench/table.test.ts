import { describe, expect, it } from 'vitest';
import { formatMarkdownTable, formatTable, type Figure } from './table.ts';

const figures: Figure[] = [
  {
    bench: 'capacity',
    figure: 'built-in sustained rate',
    value: '7000 [5000–7000, n=2]',
    unit: 'req/s',
    target: '≥ 5000',
    status: 'pass',
  },
  { bench: 'capacity', figure: 'wrk max', value: '30000', unit: 'req/s', target: '', status: 'info' },
  { bench: 'experiment', figure: 'wall time', value: '190.0', unit: 's', target: '< 180', status: 'miss' },
];

describe('formatTable', () => {
  it('prints one padded line per figure under a header, pass|miss empty for context figures', () => {
    expect(formatTable(figures).split('\n')).toEqual([
      'figure                             value                  unit   target  pass|miss',
      '---------------------------------  ---------------------  -----  ------  ---------',
      'capacity: built-in sustained rate  7000 [5000–7000, n=2]  req/s  ≥ 5000  pass',
      'capacity: wrk max                  30000                  req/s',
      'experiment: wall time              190.0                  s      < 180   miss',
    ]);
  });

  it('escapes pipes in the Markdown table', () => {
    const md = formatMarkdownTable([{ ...figures[0]!, value: 'a | b' }]);
    expect(md.split('\n')[2]).toBe('| capacity: built-in sustained rate | a \\| b | req/s | ≥ 5000 | pass |');
  });
});
