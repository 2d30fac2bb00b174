import { mixedHeader, mixedRuns } from './charts/test-fixtures.ts';
import type { ReportModel } from './model.ts';

/** A report model with every kind of content and hostile text, for html.test.ts and html.tools.test.ts. */
export function syntheticModel(): ReportModel {
  const runs = mixedRuns();
  return {
    title: 'MTTR report: synthetic <test> & "quotes"',
    header: mixedHeader(runs),
    runs,
    sections: [
      {
        id: 'summary',
        title: 'Runs per arm',
        paragraphs: [
          'Platform **local**, time scale **10×**; see `runs.csv`.',
          'A hostile value stays text: <script>alert("x")</script> & <img src=x onerror=alert(1)>.',
        ],
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
        tables: [
          {
            id: 'comparison',
            title: 'Differences',
            columns: ['scenario', 'difference F − M [95% CI] s'],
            align: ['l', 'r'],
            rows: [['faulty', '-122.0 [-171.0, -67.0]']],
          },
        ],
      },
    ],
    problems: ['journal.jsonl:9: incomplete last line (the harness stopped while writing it); line skipped'],
  };
}
