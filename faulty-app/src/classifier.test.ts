import { describe, expect, it } from 'vitest';
import { classify, tokenize, trainClassifier, trainingMessages } from './classifier.ts';

describe('classify', () => {
  it.each([
    'WINNER! You have won a £1000 cash prize. Call 09061234567 now to claim',
    'FREE entry to win a holiday! Text WIN to 80888 now. Cost 150p/msg',
    'Urgent: your bank account is suspended, verify now at http://bank-verify.example',
    'Congratulations, claim your free prize voucher today, reply YES',
  ])('calls obvious spam spam: %s', (text) => {
    expect(classify(text)).toBe('spam');
  });

  it.each([
    'Are you still coming for dinner tonight?',
    "Running late, I'll call you when I get to the station",
    'Thanks for the lovely lunch, see you next week',
    'Can you pick up the kids from school tomorrow?',
  ])('calls obvious ham ham: %s', (text) => {
    expect(classify(text)).toBe('ham');
  });

  it('fits its own training set', () => {
    for (const { label, text } of trainingMessages) expect(classify(text), text).toBe(label);
  });

  it('answers ham for text it has no evidence about, and is deterministic', () => {
    expect(classify('')).toBe('ham');
    expect(classify('zzz qqq')).toBe('ham');
    expect(classify('Call now to claim your prize')).toBe(classify('Call now to claim your prize'));
  });

  it('has a balanced, ~40 message training set', () => {
    const spam = trainingMessages.filter((m) => m.label === 'spam').length;
    expect(spam).toBe(20);
    expect(trainingMessages.length).toBe(40);
  });

  it('reads only the start of a huge message', () => {
    const huge = `${'lunch tomorrow '.repeat(100_000)}WINNER cash prize claim now`;
    expect(tokenize(huge).length).toBeLessThan(300);
    expect(classify(huge)).toBe('ham');
  });
});

describe('tokenize', () => {
  it('folds numbers, money and links into shared tokens', () => {
    expect(tokenize('Call 09061701461 for £900 or 150p, see www.x.example and https://y.example/a, at 12')).toEqual([
      'call',
      '<phone>',
      'for',
      '<money>',
      'or',
      '<money>',
      'see',
      '<link>',
      'and',
      '<link>',
      'at',
      '<num>',
    ]);
  });
});

describe('trainClassifier', () => {
  it('needs both labels', () => {
    expect(() => trainClassifier([{ label: 'spam', text: 'win' }])).toThrow(RangeError);
  });

  it('learns from the messages it is given', () => {
    const model = trainClassifier([
      { label: 'spam', text: 'banana banana' },
      { label: 'ham', text: 'apple apple' },
    ]);
    expect(model.classify('banana')).toBe('spam');
    expect(model.classify('apple')).toBe('ham');
    expect(model.spamScore('banana')).toBeGreaterThan(0);
  });
});
