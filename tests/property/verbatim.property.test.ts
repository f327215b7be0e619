import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyQuotes, type VerifiableDocument } from '../../src/rag/answer/verify.js';
import { splitSentences } from '../../src/rag/chunking/index.js';
import { findVerbatim, foldForMatch, normalizeText } from '../../src/rag/text/normalize.js';
import { createRecordingLogger } from '../helpers/logger.js';
import { hostileText, wellFormedText } from './hostile-text.js';

/**
 * The reference meaning of "verbatim": after folding (typography, whitespace, invisibles), the quote's tokens are a
 * run of the text's tokens, where a token is a whole word (letters, marks, digits), one whitespace run, or one other
 * character. So a quote may not start or end inside a word or a number.
 */
function tokens(s: string): string[] {
  return foldForMatch(s).match(/[\p{L}\p{M}\p{N}]+|\s+|[^]/gsu) ?? [];
}
function wordMatch(haystack: string, quote: string): boolean {
  const h = tokens(haystack);
  const q = tokens(quote);
  if (q.length === 0) return false;
  for (let i = 0; i + q.length <= h.length; i += 1) if (q.every((t, k) => h[i + k] === t)) return true;
  return false;
}

const VOCABULARY = [
  'Microsoft',
  'Amazon',
  'armée',
  'l’armée',
  "l'accès",
  'aujourd’hui',
  'israélienne',
  'Défense',
  'données',
  'a',
  'suspendu',
  'inacceptable',
  'acceptable',
  'le',
  'la',
  'les',
  'de',
  'des',
  'ministère',
  'M.',
  'Mme',
  '«',
  '»',
  '“',
  '”',
  '–',
  '—',
  '…',
  '.',
  ',',
  ';',
  ':',
  '?',
  '!',
  '(',
  ')',
  '120',
  '12',
  '2021',
  '3,5',
  '11 500',
  '8200',
  '%',
  'e\u0301',
  'q\u0323',
  '🙂',
  'שלום',
  '\u200B',
] as const;
const SPACES = [' ', ' ', ' ', '\n', '\n\n', '\u00A0', '\u202F', '\t', ''] as const;

/** Stored article text: normalised prose built from words that overlap on purpose (« acceptable » in « inacceptable »). */
const prose = fc
  .array(fc.tuple(fc.constantFrom(...VOCABULARY), fc.constantFrom(...SPACES)), {
    minLength: 1,
    maxLength: 80,
    size: 'max',
  })
  .map((parts) => normalizeText(parts.map(([w, s]) => w + s).join('')))
  .filter((text) => text.length > 0);

const storedText = fc.oneof(prose, wellFormedText(40).map(normalizeText)).filter((t) => /\S/.test(t));

/** Code point boundaries of `s`. */
function boundaries(s: string): number[] {
  const out = [0];
  let k = 0;
  for (const c of s) {
    k += c.length;
    out.push(k);
  }
  return out;
}

/** A span of `text` on code point boundaries, chosen by two numbers in [0, 1). */
function spanOf(text: string, a: number, b: number): [number, number] {
  const cuts = boundaries(text);
  const i = Math.floor(a * cuts.length);
  const j = Math.floor(b * cuts.length);
  return [cuts[Math.min(i, j)] ?? 0, cuts[Math.max(i, j)] ?? 0];
}

/** Word-boundary spans: starts and ends of token runs. */
function wordSpanOf(text: string, a: number, b: number): [number, number] | undefined {
  const starts: number[] = [];
  const ends: number[] = [];
  for (const m of text.matchAll(/[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]/gu)) {
    starts.push(m.index);
    ends.push(m.index + m[0].length);
  }
  if (starts.length === 0) return undefined;
  const i = Math.floor(a * starts.length);
  const j = Math.floor(b * starts.length);
  return [starts[Math.min(i, j)] ?? 0, ends[Math.max(i, j)] ?? 0];
}

const unit = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);

/** Typographic variants a quote may legitimately differ by. */
const retype = fc.record({
  apostrophe: fc.constantFrom('’', "'", 'ʼ', '‘'),
  quote: fc.constantFrom('"', '«', '»', '“', '”'),
  dash: fc.constantFrom('-', '–', '—'),
  dots: fc.constantFrom('...', '…'),
  space: fc.constantFrom(' ', '  ', '\n', '\u00A0', ' \t ', '\r\n'),
  nfd: fc.boolean(),
  zeroWidth: fc.boolean(),
});
type Retype = typeof retype extends fc.Arbitrary<infer R> ? R : never;

function applyRetype(s: string, r: Retype): string {
  let out = s
    .replace(/[’'ʼ‘]/g, r.apostrophe)
    .replace(/[«»“”"]/g, r.quote)
    .replace(/[–—]/g, r.dash)
    .replace(/…|\.\.\./g, r.dots)
    .replace(/\s+/g, r.space);
  if (r.nfd) out = out.normalize('NFD');
  if (r.zeroWidth) out = out.replace(/(\p{L})(\p{L})/u, '$1\u200B$2');
  return out;
}

/** How a quote is misquoted. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('replace-word' as const),
    at: unit,
    word: fc.constantFrom(...VOCABULARY, 'Google', 'fausse', '121'),
  }),
  fc.record({
    kind: fc.constant('insert-word' as const),
    at: unit,
    word: fc.constantFrom(...VOCABULARY, 'pas', 'ne', 'jamais'),
  }),
  fc.record({ kind: fc.constant('delete-word' as const), at: unit }),
  fc.record({ kind: fc.constant('swap-letters' as const), at: unit }),
  fc.record({ kind: fc.constant('change-digit' as const), at: unit, digit: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('drop-char' as const), at: unit }),
  fc.record({ kind: fc.constant('case' as const), at: unit }),
  fc.record({ kind: fc.constant('strip-accents' as const) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(quote: string, m: Mutation): string {
  const words = quote.split(' ');
  const pick = (at: number, n: number) => Math.min(n - 1, Math.floor(at * n));
  switch (m.kind) {
    case 'replace-word': {
      words[pick(m.at, words.length)] = m.word;
      return words.join(' ');
    }
    case 'insert-word': {
      words.splice(pick(m.at, words.length + 1), 0, m.word);
      return words.join(' ');
    }
    case 'delete-word': {
      words.splice(pick(m.at, words.length), 1);
      return words.join(' ');
    }
    case 'swap-letters': {
      const letters = [...quote.matchAll(/\p{L}\p{L}/gu)];
      const hit = letters[pick(m.at, letters.length)];
      if (!hit) return quote;
      const [x, y] = [...hit[0]];
      return quote.slice(0, hit.index) + y + x + quote.slice(hit.index + 2);
    }
    case 'change-digit': {
      const digits = [...quote.matchAll(/\d/g)];
      const hit = digits[pick(m.at, digits.length)];
      if (!hit) return `${quote} ${m.digit}`;
      return quote.slice(0, hit.index) + String(m.digit) + quote.slice(hit.index + 1);
    }
    case 'drop-char': {
      const chars = [...quote];
      chars.splice(pick(m.at, chars.length), 1);
      return chars.join('');
    }
    case 'case': {
      const letters = [...quote.matchAll(/\p{L}/gu)];
      const hit = letters[pick(m.at, letters.length)];
      if (!hit) return quote;
      const c = hit[0];
      const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return quote.slice(0, hit.index) + swapped + quote.slice(hit.index + c.length);
    }
    case 'strip-accents':
      return quote.normalize('NFD').replace(/\p{M}/gu, '');
  }
}

function documentOf(text: string): VerifiableDocument {
  return { id: 'd', title: 'T', url: '', text, sentences: splitSentences(text) };
}

describe('verbatim: counterexamples found by the properties', () => {
  it('drops a quote that starts or ends inside a word or a number of the text', () => {
    const { logger } = createRecordingLogger();
    const doc = documentOf('C’est inacceptable, a dit Microsoft. Il y a 120 millions de fichiers.');
    const kept = verifyQuotes(
      [
        { docId: 'd', text: 'icrosoft', score: 1 },
        { docId: 'd', text: 'acceptable, a dit', score: 1 },
        { docId: 'd', text: '20 millions de fichiers', score: 1 },
        { docId: 'd', text: 'Il y a 12', score: 1 },
        { docId: 'd', text: 'inacceptable, a dit Microsoft', score: 1 },
        { docId: 'd', text: 'est inacceptable', score: 1 },
      ],
      () => doc,
      logger,
    );
    expect(kept.map((q) => q.text)).toEqual(['inacceptable, a dit Microsoft', 'est inacceptable']);
    expect(findVerbatim(doc.text, 'icrosoft')).toBeDefined();
    expect(findVerbatim(doc.text, 'icrosoft', { wholeWords: true })).toBeUndefined();
  });

  it('skips a match inside a word and keeps looking for a whole-word one', () => {
    const text = 'Le projet est inacceptable. Le contrat reste acceptable pour tous.';
    const span = findVerbatim(text, 'acceptable', { wholeWords: true });
    expect(span && text.slice(span.start, span.end)).toBe('acceptable');
    expect(span?.start).toBe(text.lastIndexOf('acceptable'));
  });

  it('folds a decomposed quote with a zero-width character inside a syllable like the composed text', () => {
    expect(foldForMatch('\u1100\u200B\u1161')).toBe('가');
    expect(findVerbatim('가', '\u1100\u200B\u1161')).toEqual({ start: 0, end: 1 });
    expect(findVerbatim('café', 'cafe\u200B\u0301')).toEqual({ start: 0, end: 4 });
  });
});

describe('findVerbatim (property)', () => {
  it('finds every exact substring of a stored text, at or before where it was taken', () => {
    fc.assert(
      fc.property(storedText, unit, unit, (text, a, b) => {
        const [start, end] = spanOf(text, a, b);
        const quote = text.slice(start, end);
        fc.pre(foldForMatch(quote) !== '');
        const span = findVerbatim(text, quote);
        expect(span).toBeDefined();
        expect(span?.start).toBeLessThanOrEqual(start + quote.length - quote.trimStart().length);
        expect(foldForMatch(text.slice(span?.start, span?.end))).toBe(foldForMatch(quote));
      }),
      { seed: 0xf1d0, numRuns: 400 },
    );
  });

  it('finds a substring retyped with other apostrophes, quotation marks, dashes, dots, spaces or in NFD', () => {
    fc.assert(
      fc.property(prose, unit, unit, retype, (text, a, b, r) => {
        const [start, end] = spanOf(text, a, b);
        const original = text.slice(start, end);
        const quote = applyRetype(original, r);
        fc.pre(foldForMatch(quote) !== '' && !/^\p{M}/u.test(original));
        const span = findVerbatim(text, quote);
        expect(span, JSON.stringify({ text, quote })).toBeDefined();
        expect(foldForMatch(text.slice(span?.start, span?.end))).toBe(foldForMatch(quote));
      }),
      { seed: 0x7e7e, numRuns: 400 },
    );
  });

  it('never returns a span that reads differently from the quote, whatever the text and the quote', () => {
    const quote = fc.oneof(hostileText(8), fc.string({ unit: 'binary', maxLength: 6 }));
    fc.assert(
      fc.property(fc.oneof(storedText, hostileText(40)), quote, (text, q) => {
        const span = findVerbatim(text, q);
        if (span) expect(foldForMatch(text.slice(span.start, span.end))).toBe(foldForMatch(q));
      }),
      { seed: 0x50d, numRuns: 400 },
    );
  });
});

describe('verifyQuotes (property)', () => {
  it('keeps every whole-word passage of the document, showing the stored characters', () => {
    fc.assert(
      fc.property(storedText, unit, unit, retype, fc.boolean(), (text, a, b, r, retyped) => {
        const span = wordSpanOf(text, a, b);
        fc.pre(span !== undefined);
        const [start, end] = span ?? [0, 0];
        const original = text.slice(start, end);
        const candidate = retyped ? applyRetype(original, r) : original;
        fc.pre(foldForMatch(candidate) !== '');
        const { logger } = createRecordingLogger();
        const doc = documentOf(text);
        const [quote, ...rest] = verifyQuotes([{ docId: 'd', text: candidate, score: 1 }], () => doc, logger);
        expect(rest).toEqual([]);
        expect(quote, JSON.stringify({ text, candidate })).toBeDefined();
        expect(quote?.text).toBe(text.slice(quote?.start, quote?.end));
        expect(foldForMatch(quote?.text ?? '')).toBe(foldForMatch(candidate));
      }),
      { seed: 0x9e1, numRuns: 400 },
    );
  });

  it('drops a misquote: a word changed, added or removed, letters swapped, a digit, a case or an accent changed', () => {
    fc.assert(
      fc.property(prose, unit, unit, mutation, (text, a, b, m) => {
        const span = wordSpanOf(text, a, b);
        fc.pre(span !== undefined);
        const original = text.slice(...(span ?? [0, 0]));
        const misquote = mutate(original, m);
        fc.pre(foldForMatch(misquote) !== foldForMatch(original) && foldForMatch(misquote) !== '');
        const { logger, records } = createRecordingLogger();
        const doc = documentOf(text);
        const quotes = verifyQuotes([{ docId: 'd', text: misquote, score: 1 }], () => doc, logger);
        const context = JSON.stringify({ text, original, misquote, m });
        if (!wordMatch(text, misquote)) {
          expect(quotes, context).toEqual([]);
          expect(records.filter((r) => r.msg === 'quote dropped')).toHaveLength(1);
        } else if (quotes[0]) {
          expect(foldForMatch(quotes[0].text)).toBe(foldForMatch(misquote));
        }
      }),
      { seed: 0xbad, numRuns: 600 },
    );
  });

  it('accepts only quotes that are whole-word runs of the document text', () => {
    const quote = fc.oneof(hostileText(6), fc.string({ unit: 'binary', maxLength: 6 }));
    fc.assert(
      fc.property(fc.oneof(storedText, hostileText(30)), quote, (text, q) => {
        const { logger } = createRecordingLogger();
        const doc = documentOf(text);
        const [kept] = verifyQuotes([{ docId: 'd', text: q, score: 1 }], () => doc, logger);
        if (kept) {
          expect(wordMatch(text, q), JSON.stringify({ text, q })).toBe(true);
          expect(kept.text).toBe(text.slice(kept.start, kept.end));
          expect(foldForMatch(kept.text)).toBe(foldForMatch(q));
        }
      }),
      { seed: 0xacce, numRuns: 400 },
    );
  });
});
