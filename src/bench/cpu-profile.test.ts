import { describe, expect, it } from 'vitest';
import { describeProfile, shortScript, summarizeCpuProfile, type CpuProfile } from './cpu-profile.ts';

// A hand-built profile: 10 samples 1 ms apart — 4 idle, 3 in send (src/load), 2 in GC, 1 in writev.
const profile: CpuProfile = {
  startTime: 0,
  endTime: 10_000,
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 4, 5] },
    { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    {
      id: 3,
      callFrame: { functionName: 'send', url: 'file:///work/main/src/load/builtin-generator.ts', lineNumber: 340 },
    },
    { id: 4, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    { id: 5, callFrame: { functionName: 'writev', url: 'node:internal/stream_base_commons', lineNumber: 121 } },
  ],
  samples: [2, 2, 3, 3, 3, 4, 4, 5, 2, 2],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe('summarizeCpuProfile', () => {
  it('splits idle from busy time and ranks functions and scripts by self time', () => {
    const s = summarizeCpuProfile(profile);
    // The last sample has no following delta and gets the average interval.
    expect(s.totalMs).toBe(10);
    expect(s.idleShare).toBe(0.4);
    expect(s.gcShare).toBe(0.333);
    expect(s.topFunctions[0]).toEqual({ name: 'send (src/load/builtin-generator.ts:341)', selfMs: 3, busyShare: 0.5 });
    expect(s.topScripts.map((e) => e.name)).toEqual([
      'src/load/builtin-generator.ts',
      '(garbage collector)',
      'node:internal/stream_base_commons',
    ]);
  });

  it('falls back to hit counts when the profile has no samples', () => {
    const { samples: _s, timeDeltas: _t, ...rest } = profile;
    const nodes = rest.nodes.map((n) => ({ ...n, hitCount: n.id === 3 ? 3 : n.id === 2 ? 1 : 0 }));
    const s = summarizeCpuProfile({ ...rest, nodes });
    expect(s.idleShare).toBe(0.25);
    expect(s.topFunctions[0]!.busyShare).toBe(1);
  });

  it('describes a profile in one line', () => {
    expect(describeProfile('generator', summarizeCpuProfile(profile), 2)).toBe(
      'generator: busy 60% of 0.0 s (GC 33% of busy); by script: src/load/builtin-generator.ts 50%, (garbage collector) 33%; ' +
        'by function: send (src/load/builtin-generator.ts:341) 50%, (garbage collector) 33%',
    );
  });
});

describe('shortScript', () => {
  it('keeps what a reader recognises', () => {
    expect(shortScript('file:///work/main/node_modules/tsx/dist/esm/index.mjs')).toBe('tsx/dist/esm/index.mjs');
    expect(shortScript('file:///tmp/canary-mttr-bench-x/faulty-app.mjs')).toBe('faulty-app.mjs');
    expect(shortScript('node:_http_client')).toBe('node:_http_client');
    expect(shortScript('')).toBe('(native)');
  });
});
