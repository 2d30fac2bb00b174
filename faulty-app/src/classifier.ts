/**
 * A small multinomial naive Bayes spam filter, trained at start-up from the messages below.
 * It stands in for the SMS-spam checker the experiment deploys: the point is a real, cheap,
 * deterministic piece of work per request, not state-of-the-art accuracy.
 */

export type SmsLabel = 'spam' | 'ham';

export interface LabelledSms {
  label: SmsLabel;
  text: string;
}

/** Messages written for this app in the style of the public SMS spam corpora. */
export const trainingMessages: readonly LabelledSms[] = [
  {
    label: 'spam',
    text: 'WINNER!! You have been selected to receive a £900 prize reward! To claim call 09061701461. Valid 12 hours only.',
  },
  {
    label: 'spam',
    text: 'Congratulations! You won a FREE holiday to the Canary Islands. Text WIN to 80086 to claim now',
  },
  {
    label: 'spam',
    text: 'URGENT! Your mobile number has been awarded a £2000 cash prize. Call 09058094565 from a landline. T&C apply',
  },
  {
    label: 'spam',
    text: 'FREE entry in 2 a weekly competition to win FA Cup final tickets. Text FA to 87121 to receive entry question',
  },
  { label: 'spam', text: 'You have won a guaranteed £1000 cash or a £2000 prize. To claim txt CLAIM to 81010 now' },
  { label: 'spam', text: 'Claim your free ringtone now! Reply TONE to 85023. Cost 150p per msg, stop to unsubscribe' },
  {
    label: 'spam',
    text: 'Your account has been suspended. Verify your bank details now at http://secure-verify.example.com',
  },
  {
    label: 'spam',
    text: 'Get cheap loans today, no credit check! Apply now and get cash in your account within 1 hour. Reply YES',
  },
  {
    label: 'spam',
    text: 'Exclusive offer: 50% off all orders this weekend only. Click www.best-deals.example to shop now. Txt STOP to opt out',
  },
  { label: 'spam', text: 'Hot singles in your area want to chat! Text DATE to 69696 now. 18+ only, £1.50/msg' },
  {
    label: 'spam',
    text: 'Your parcel could not be delivered. Pay the £2.99 redelivery fee at http://parcel-track.example now',
  },
  {
    label: 'spam',
    text: 'Final notice: you are entitled to a tax refund of £480. Claim at www.refund-gov.example before it expires',
  },
  { label: 'spam', text: 'Free msg: Txt CASH to 88600 to get your bonus credit. Limited offer, reply now to win' },
  {
    label: 'spam',
    text: 'Urgent! Call 0800 169 6031 to claim your mobile upgrade. Free camera phone with every new contract',
  },
  { label: 'spam', text: 'You are a WINNER of our weekly draw! Collect your voucher worth £500 today, call now' },
  { label: 'spam', text: 'Earn £300 a day working from home. No experience needed. Text JOB to 60300 for free info' },
  {
    label: 'spam',
    text: 'PRIVATE! Your 2024 account statement shows 800 un-redeemed bonus points. Call 08719899217 to claim',
  },
  {
    label: 'spam',
    text: 'Congratulations, your number was chosen for a free iPhone. Click the link to claim your prize today',
  },
  { label: 'spam', text: 'Act now! Crypto investment doubles your cash in 7 days. Guaranteed returns, reply INVEST' },
  {
    label: 'spam',
    text: 'SIX chances to win CASH! From 100 to 20,000 pounds txt CSH11 and send to 87575. Cost 150p/day',
  },
  { label: 'ham', text: 'Hey, are we still meeting for lunch tomorrow at 12?' },
  { label: 'ham', text: "I'll be home late tonight, don't wait up for dinner" },
  { label: 'ham', text: 'Can you pick up some milk and bread on your way back?' },
  { label: 'ham', text: 'Sorry, I missed your call. I was in a meeting. Will call you later' },
  { label: 'ham', text: 'Happy birthday! Hope you have a great day with the family' },
  { label: 'ham', text: 'Ok, see you at the station at 6. Text me when your train leaves' },
  { label: 'ham', text: 'Did you finish the report for Monday? I can help with the slides if you want' },
  { label: 'ham', text: 'Mum says thanks for the flowers, she loved them' },
  { label: 'ham', text: 'The kids are asleep finally. Movie tonight or are you too tired?' },
  { label: 'ham', text: "I'm running 10 minutes late, traffic is terrible. Start without me" },
  { label: 'ham', text: 'Thanks for dinner last night, it was lovely to catch up' },
  { label: 'ham', text: 'Where did you leave the car keys? I cannot find them anywhere' },
  { label: 'ham', text: 'Good luck with the interview today, you will do great' },
  { label: 'ham', text: 'Are you coming to the football on Saturday? John has a spare ticket' },
  { label: 'ham', text: 'Just got to the office. The coffee machine is broken again lol' },
  { label: 'ham', text: 'Can we move our call to Thursday afternoon? Something came up' },
  { label: 'ham', text: 'Yeah I think so, let me check with Sarah and get back to you' },
  { label: 'ham', text: 'Dont forget your dentist appointment at 3pm tomorrow' },
  { label: 'ham', text: 'I love you too. Drive safe and call me when you get there' },
  { label: 'ham', text: 'Lunch was great. Shall we do the same place next week?' },
];

/**
 * Only the start of a message is read. SMS bodies are at most a few hundred characters; the cap
 * keeps an oversized request from turning into seconds of synchronous work on the event loop.
 */
const maxCharsRead = 2000;

/** Lower-cased words, with numbers, money and links folded into shared tokens so they generalise. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const lowered = text.slice(0, maxCharsRead).toLowerCase();
  const re = /https?:\/\/\S+|www\.\S+|[£$€]\s?\d[\d,.]*|\d+(?:[.,]\d+)*p?|[a-z]+(?:'[a-z]+)?/g;
  for (const match of lowered.matchAll(re)) {
    const t = match[0];
    const first = t.charCodeAt(0);
    if (t.startsWith('http') || t.startsWith('www.')) tokens.push('<link>');
    else if (t[0] === '£' || t[0] === '$' || t[0] === '€') tokens.push('<money>');
    else if (first >= 48 && first <= 57) {
      const digits = t.replace(/\D/g, '').length;
      if (t.endsWith('p')) tokens.push('<money>');
      else if (digits >= 5) tokens.push('<phone>');
      else tokens.push('<num>');
    } else tokens.push(t);
  }
  return tokens;
}

export interface SmsClassifier {
  classify(text: string): SmsLabel;
  /** log P(spam | text) − log P(ham | text) up to a constant; positive means spam. */
  spamScore(text: string): number;
}

/** Trains a multinomial naive Bayes model with add-one smoothing. */
export function trainClassifier(messages: readonly LabelledSms[]): SmsClassifier {
  const counts = { spam: new Map<string, number>(), ham: new Map<string, number>() };
  const totals = { spam: 0, ham: 0 };
  const docs = { spam: 0, ham: 0 };
  for (const { label, text } of messages) {
    docs[label]++;
    for (const token of tokenize(text)) {
      counts[label].set(token, (counts[label].get(token) ?? 0) + 1);
      totals[label]++;
    }
  }
  if (docs.spam === 0 || docs.ham === 0)
    throw new RangeError('trainClassifier needs at least one spam and one ham message');

  const vocabulary = new Set([...counts.spam.keys(), ...counts.ham.keys()]);
  // One log-likelihood ratio per known word, computed once so a request costs one lookup per token.
  const weights = new Map<string, number>();
  for (const word of vocabulary) {
    const pSpam = ((counts.spam.get(word) ?? 0) + 1) / (totals.spam + vocabulary.size);
    const pHam = ((counts.ham.get(word) ?? 0) + 1) / (totals.ham + vocabulary.size);
    weights.set(word, Math.log(pSpam) - Math.log(pHam));
  }
  const prior = Math.log(docs.spam) - Math.log(docs.ham);

  const spamScore = (text: string): number => {
    let score = prior;
    // Words never seen in training carry no evidence either way and are skipped.
    for (const token of tokenize(text)) score += weights.get(token) ?? 0;
    return score;
  };
  return {
    spamScore,
    classify: (text) => (spamScore(text) > 0 ? 'spam' : 'ham'),
  };
}

const defaultClassifier = trainClassifier(trainingMessages);

/** Classifies one SMS with the model trained from `trainingMessages`. */
export function classify(text: string): SmsLabel {
  return defaultClassifier.classify(text);
}
