/** The strict exposition-format parser must itself reject what Prometheus would, or it proves nothing. */
import { describe, expect, it } from 'vitest';
import { createAppMetrics } from './metrics.ts';
import { parsePrometheusText, sampleValue } from './test-support.ts';

const valid = [
  '# HELP x_total Things. With \\\\ and \\n escapes.',
  '# TYPE x_total counter',
  'x_total{a="1",b="q\\"uote\\\\ \\n"} 3',
  'x_total 4 1700000000000',
  '# TYPE h histogram',
  'h_bucket{le="0.1"} 1',
  'h_bucket{le="+Inf"} 2',
  'h_sum 0.3',
  'h_count 2',
  '# TYPE g gauge',
  'g{trailing="comma",} -1.5e3',
  'g{x="y"} NaN',
  '',
].join('\n');

describe('parsePrometheusText', () => {
  it('parses valid exposition text', () => {
    const m = parsePrometheusText(valid);
    expect(m.get('x_total')).toMatchObject({ type: 'counter', help: 'Things. With \\ and \n escapes.' });
    expect(sampleValue(m, 'x_total', 'x_total', { a: '1', b: 'q"uote\\ \n' })).toBe(3);
    expect(sampleValue(m, 'x_total', 'x_total')).toBe(4);
    expect(sampleValue(m, 'h', 'h_count')).toBe(2);
    expect(sampleValue(m, 'g', 'g', { trailing: 'comma' })).toBe(-1500);
  });

  it('accepts what faulty-app renders', () => {
    const metrics = createAppMetrics({ version: 'v1', faultMode: 'none' });
    metrics.countRequest('/sms', 200);
    metrics.observeSmsDuration(0.003);
    metrics.observeSmsDuration(20);
    const m = parsePrometheusText(metrics.render());
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_bucket', { le: '10' })).toBe(1);
    expect(sampleValue(m, 'app_request_duration_seconds', 'app_request_duration_seconds_bucket', { le: '+Inf' })).toBe(
      2,
    );
  });

  it.each([
    ['no final newline', '# TYPE a gauge\na 1', /must end with a newline/],
    ['an empty line', '# TYPE a gauge\n\na 1\n', /empty line/],
    ['another comment', '# just a comment\n', /not a HELP or TYPE/],
    ['a sample without TYPE', 'a 1\n', /no TYPE/],
    ['a bad metric name', '# TYPE 1a gauge\n', /invalid metric name/],
    ['an unknown type', '# TYPE a meter\n', /unknown type/],
    ['a second TYPE', '# TYPE a gauge\n# TYPE a gauge\n', /second TYPE/],
    ['a second HELP', '# HELP a x\n# HELP a y\n', /second HELP/],
    ['a bad HELP escape', '# HELP a bad \\t\n', /invalid escape/],
    ['a bad label name', '# TYPE a gauge\na{1x="y"} 1\n', /invalid label name/],
    ['a reserved label name', '# TYPE a gauge\na{__x="y"} 1\n', /invalid label name/],
    ['an unquoted label value', '# TYPE a gauge\na{x=y} 1\n', /expected ="/],
    ['an unterminated label value', '# TYPE a gauge\na{x="y} 1\n', /unterminated/],
    ['a bad label escape', '# TYPE a gauge\na{x="\\t"} 1\n', /invalid escape/],
    ['a duplicate label', '# TYPE a gauge\na{x="1",x="2"} 1\n', /duplicate label/],
    ['a bad value', '# TYPE a gauge\na 1,5\n', /invalid value/],
    ['two spaces', '# TYPE a gauge\na  1\n', /expected "value"/],
    ['a bad timestamp', '# TYPE a gauge\na 1 soon\n', /invalid timestamp/],
    ['a duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
    ['a negative counter', '# TYPE a_total counter\na_total -1\n', /non-negative/],
    ['a sample of another family', '# TYPE a gauge\nb 1\n', /does not belong/],
    ['a family split in two', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n', /does not belong/],
    ['TYPE after samples', '# TYPE a gauge\na 1\n# HELP a late\n', /after its samples/],
    ['a bucket without le', '# TYPE h histogram\nh_bucket 1\n', /without le/],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no \+Inf/],
    ['+Inf != count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', /!= _count/],
    [
      'decreasing buckets',
      '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
      /not cumulative/,
    ],
    ['CRLF line ends', '# TYPE a gauge\r\na 1\r\n', /carriage return/],
  ])('rejects %s', (_, text, error) => {
    expect(() => parsePrometheusText(text)).toThrow(error);
  });
});
