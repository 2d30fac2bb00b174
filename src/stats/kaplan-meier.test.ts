import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median } from './descriptive.ts';
import { kaplanMeier, kmMedian, kmQuantile, type SurvivalObservation } from './kaplan-meier.ts';

/** `[time, status]` pairs, status 1 = event, 0 = censored, as in R's Surv(time, status). */
const surv = (rows: readonly (readonly [number, 0 | 1])[]): SurvivalObservation[] =>
  rows.map(([time, status]) => ({ time, event: status === 1 }));

// Acute myelogenous leukemia, maintained-chemotherapy group: R survival package dataset `aml`
// (Miller 1981, Survival Analysis, p. 49): 9, 13, 13+, 18, 23, 28+, 31, 34, 45+, 48, 161+.
const AML_MAINTAINED = surv([
  [9, 1],
  [13, 1],
  [13, 0],
  [18, 1],
  [23, 1],
  [28, 0],
  [31, 1],
  [34, 1],
  [45, 0],
  [48, 1],
  [161, 0],
]);
// Non-maintained group: 5, 5, 8, 8, 12, 16+, 23, 27, 30, 33, 43, 45.
const AML_NONMAINTAINED = surv([
  [5, 1],
  [5, 1],
  [8, 1],
  [8, 1],
  [12, 1],
  [16, 0],
  [23, 1],
  [27, 1],
  [30, 1],
  [33, 1],
  [43, 1],
  [45, 1],
]);

describe('kaplanMeier against R survival::survfit (conf.type = "log")', () => {
  it('reproduces summary(survfit(Surv(time, status) ~ x, data = aml)) for the maintained group', () => {
    // R output (survival 3.x), as printed in e.g. https://rstudio-pubs-static.s3.amazonaws.com/610133_9d2b480275e04433aae84c8c4c4a7527.html
    //  time n.risk n.event survival std.err lower 95% CI upper 95% CI
    //     9     11       1    0.909  0.0867       0.7541        1.000
    //    13     10       1    0.818  0.1163       0.6192        1.000
    //    18      8       1    0.716  0.1397       0.4884        1.000
    //    23      7       1    0.614  0.1526       0.3769        0.999
    //    31      5       1    0.491  0.1642       0.2549        0.946
    //    34      4       1    0.368  0.1627       0.1549        0.875
    //    48      2       1    0.184  0.1535       0.0359        0.944
    const expected = [
      [9, 11, 1, 0.909, 0.0867, 0.7541, 1.0],
      [13, 10, 1, 0.818, 0.1163, 0.6192, 1.0],
      [18, 8, 1, 0.716, 0.1397, 0.4884, 1.0],
      [23, 7, 1, 0.614, 0.1526, 0.3769, 0.999],
      [31, 5, 1, 0.491, 0.1642, 0.2549, 0.946],
      [34, 4, 1, 0.368, 0.1627, 0.1549, 0.875],
      [48, 2, 1, 0.184, 0.1535, 0.0359, 0.944],
    ] as const;
    const fit = kaplanMeier(AML_MAINTAINED);
    expect(fit).toMatchObject({ n: 11, events: 7, level: 0.95, confType: 'log' });
    const eventRows = fit.steps.filter((s) => s.events > 0); // summary() hides censor-only rows
    expect(eventRows).toHaveLength(expected.length);
    eventRows.forEach((row, i) => {
      const [time, atRisk, events, survival, stdErr, lower, upper] = expected[i] as (typeof expected)[number];
      expect(row).toMatchObject({ time, atRisk, events });
      expect(Math.abs(row.survival - survival)).toBeLessThan(5e-4);
      expect(Math.abs((row.stdErr as number) - stdErr)).toBeLessThan(5e-5);
      expect(Math.abs((row.lower as number) - lower)).toBeLessThan(5e-5);
      expect(Math.abs((row.upper as number) - upper)).toBeLessThan(5e-4);
    });
  });

  it('keeps censoring times as rows, with a tied event and censoring both at risk (13, 13+)', () => {
    const fit = kaplanMeier(AML_MAINTAINED);
    expect(fit.steps.map((s) => s.time)).toEqual([9, 13, 18, 23, 28, 31, 34, 45, 48, 161]);
    expect(fit.steps[1]).toMatchObject({ time: 13, atRisk: 10, events: 1, censored: 1 });
    expect(fit.steps[4]).toMatchObject({ time: 28, atRisk: 6, events: 0, censored: 1 });
    expect(fit.steps[4]?.survival).toBe(fit.steps[3]?.survival);
  });

  it('gives print(survfit(...)) medians and limits: maintained 31 (18, NA), non-maintained 23 (8, NA)', () => {
    // R:                  n events median 0.95LCL 0.95UCL
    //     x=Maintained    11      7     31      18      NA
    //     x=Nonmaintained 12     11     23       8      NA
    expect(kmMedian(kaplanMeier(AML_MAINTAINED))).toEqual({ value: 31, lower: 18, upper: undefined, level: 0.95 });
    expect(kmMedian(kaplanMeier(AML_NONMAINTAINED))).toEqual({ value: 23, lower: 8, upper: undefined, level: 0.95 });
  });

  it('reaches S = 0 with undefined standard error and bounds, where R prints NaN / NA', () => {
    const last = kaplanMeier(AML_NONMAINTAINED).steps.at(-1);
    expect(last).toMatchObject({ time: 45, atRisk: 1, events: 1, survival: 0 });
    expect(last?.stdErr).toBeUndefined();
    expect(last?.lower).toBeUndefined();
    expect(last?.upper).toBeUndefined();
  });
});

describe('kaplanMeier options', () => {
  it('computes the log-log and plain intervals by their formulas', () => {
    // First step of the maintained group: S = 10/11, se(log S) = sqrt(1/110), z = qnorm(0.975).
    const s = 10 / 11;
    const seLog = Math.sqrt(1 / 110);
    const z = 1.959963984540054;
    const logLog = kaplanMeier(AML_MAINTAINED, { confType: 'log-log' }).steps[0];
    const spread = (z * seLog) / -Math.log(s);
    expect(logLog?.lower).toBeCloseTo(s ** Math.exp(spread), 12); // ≈ 0.5081
    expect(logLog?.upper).toBeCloseTo(s ** Math.exp(-spread), 12); // ≈ 0.9867
    const plain = kaplanMeier(AML_MAINTAINED, { confType: 'plain' }).steps[0];
    expect(plain?.lower).toBeCloseTo(s - z * s * seLog, 12);
    expect(plain?.upper).toBe(1);
  });

  it('widens the intervals with the level', () => {
    const narrow = kaplanMeier(AML_MAINTAINED, { level: 0.8 }).steps[5];
    const wide = kaplanMeier(AML_MAINTAINED, { level: 0.99 }).steps[5];
    expect(narrow?.lower as number).toBeGreaterThan(wide?.lower as number);
  });

  it('rejects a bad level or a non-finite time', () => {
    expect(() => kaplanMeier(AML_MAINTAINED, { level: 95 })).toThrow(RangeError);
    expect(() => kaplanMeier([{ time: Number.NaN, event: true }])).toThrow('observations[0].time is NaN');
  });
});

describe('kmMedian and kmQuantile', () => {
  it('takes the first time S ≤ 0.5 by default, R’s midpoint of a flat stretch at 0.5 on request', () => {
    const fit = kaplanMeier(
      surv([
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
      ]),
    );
    expect(kmMedian(fit).value).toBe(2); // S(2) = 0.5 exactly
    expect(kmMedian(fit, { flat: 'midpoint' }).value).toBe(2.5); // = median(1:4), as R's quantile.survfit
  });

  it('finds an exact 0.5 despite rounding in the product (6 events: 5/6 · 4/5 · 3/4)', () => {
    const fit = kaplanMeier(
      surv([
        [10, 1],
        [20, 1],
        [30, 1],
        [40, 1],
        [50, 1],
        [60, 1],
      ]),
    );
    expect(kmMedian(fit).value).toBe(30);
    expect(kmMedian(fit, { flat: 'midpoint' }).value).toBe(35);
  });

  it('is undefined when the curve never reaches the level (heavy censoring)', () => {
    const fit = kaplanMeier(
      surv([
        [5, 1],
        [10, 0],
        [20, 0],
        [30, 0],
      ]),
    );
    // S stays at 0.75, but its lower confidence curve (0.75·exp(−1.96·0.289) ≈ 0.43) crosses 0.5
    // at 5: the data say the median is at least 5 and give no upper limit.
    expect(kmMedian(fit)).toEqual({ value: undefined, lower: 5, upper: undefined, level: 0.95 });
  });

  it('midpoint rule at a flat end of the curve uses the last follow-up time, as R', () => {
    const half = kaplanMeier(
      surv([
        [1, 1],
        [3, 0],
      ]),
    ); // S(1) = 0.5, never lower, follow-up ends at 3
    expect(kmMedian(half).value).toBe(1);
    expect(kmMedian(half, { flat: 'midpoint' }).value).toBe(2);
  });

  it('handles empty input and single observations without throwing', () => {
    expect(kaplanMeier([])).toEqual({ n: 0, events: 0, steps: [], level: 0.95, confType: 'log' });
    expect(kmMedian(kaplanMeier([])).value).toBeUndefined();
    expect(kmMedian(kaplanMeier([{ time: 7, event: true }])).value).toBe(7);
    expect(kmMedian(kaplanMeier([{ time: 7, event: false }])).value).toBeUndefined();
  });

  it('reads other quantiles, e.g. the 25% of runs that recovered first', () => {
    expect(kmQuantile(kaplanMeier(AML_MAINTAINED), 0.25).value).toBe(18); // S(18) = 0.716 ≤ 0.75
    expect(() => kmQuantile(kaplanMeier(AML_MAINTAINED), 1)).toThrow(RangeError);
  });
});

describe('kaplanMeier properties', () => {
  const observation = fc.record({ time: fc.integer({ min: 0, max: 50 }), event: fc.boolean() });

  it('survival is non-increasing in [0, 1], bounds bracket it, at-risk counts add up', () => {
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 40 }), (observations) => {
        const fit = kaplanMeier(observations);
        let previous = 1;
        let atRisk = observations.length;
        for (const step of fit.steps) {
          expect(step.survival).toBeLessThanOrEqual(previous);
          expect(step.survival).toBeGreaterThanOrEqual(0);
          expect(step.atRisk).toBe(atRisk);
          atRisk -= step.events + step.censored;
          if (step.lower !== undefined && step.upper !== undefined) {
            expect(step.lower).toBeGreaterThanOrEqual(0);
            expect(step.lower).toBeLessThanOrEqual(step.survival + 1e-12);
            expect(step.upper).toBeGreaterThanOrEqual(step.survival - 1e-12);
            expect(step.upper).toBeLessThanOrEqual(1);
          }
          previous = step.survival;
        }
        expect(atRisk).toBe(0);
        expect(fit.events).toBe(observations.filter((o) => o.event).length);
      }),
    );
  });

  it('without censoring, S(t) is the fraction of times above t and the midpoint median is the sample median', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 40 }), (times) => {
        const fit = kaplanMeier(times.map((time) => ({ time, event: true })));
        for (const step of fit.steps) {
          expect(step.survival).toBeCloseTo(times.filter((t) => t > step.time).length / times.length, 12);
        }
        expect(kmMedian(fit, { flat: 'midpoint' }).value).toBe(median(times));
      }),
    );
  });
});
