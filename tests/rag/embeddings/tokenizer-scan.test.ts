import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forEachWord } from '../../../src/rag/text/tokenize.js';

/**
 * The token regex `forEachWord` documents and replaces with a hand-written scanner. The hashed embedder's vectors
 * (pinned to LOCAL_HASH_VERSION) and the BM25 terms depend on the scanner finding exactly its matches.
 */
const WORD =
  /\p{N}+(?:[.,]\p{N}+)*(?![\p{L}\p{N}])|[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:[-‐‑'’ʼ][\p{L}\p{M}\p{N}]+)*/gu;

const visits = (text: string): unknown[] => {
  const out: unknown[] = [];
  forEachWord(text, (word, folded, joined) => out.push([word, folded, joined]));
  return out;
};

/** What forEachWord gave when it walked the regex's matches. */
const byRegex = (text: string): unknown[] => (text.match(WORD) ?? []).flatMap(visits);

const NUMBERS_AND_JOINERS = [
  '1',
  '12',
  '1,5',
  '1.2.3',
  '12.000,5',
  '.',
  ',',
  ',,',
  '²',
  '½',
  '١٢',
  '𝟏',
  '𝐀',
  '😀',
  '\uD800',
  '\uDC00',
  'a',
  'É',
  'e\u0301',
  '\u0301',
  '-',
  '‐',
  '‑',
  "'",
  '’',
  'ʼ',
  'l’',
  'qu’',
  'US',
  'aujourd’hui',
  'Tel-Aviv',
  ' ',
] as const;

/** Prose-like text: French words, punctuation, elisions and compounds, with any Unicode code point now and then. */
const prose = fc
  .array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          'Le',
          'ministère',
          'l’armée',
          'Tel-Aviv',
          'a-t-il',
          '« ',
          ' »',
          ', ',
          '. ',
          ' ',
        ),
      },
      { weight: 2, arbitrary: fc.constantFrom(...NUMBERS_AND_JOINERS) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const numberSoup = fc
  .array(fc.constantFrom(...NUMBERS_AND_JOINERS), { maxLength: 12 })
  .map((parts) => parts.join(''));

describe('forEachWord scanner', () => {
  it('finds the matches of the token regex in prose with any Unicode in it', () => {
    fc.assert(
      fc.property(prose, (text) => {
        expect(visits(text)).toEqual(byRegex(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('finds the matches of the token regex among numbers, separators, marks, joiners and surrogates', () => {
    fc.assert(
      fc.property(numberSoup, (text) => {
        expect(visits(text)).toEqual(byRegex(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('backtracks out of a number followed by a letter as the regex does', () => {
    expect(visits('1.2.3a 12a 1,5x')).toEqual(byRegex('1.2.3a 12a 1,5x'));
    expect(visits('1.2.3a').map((v) => (v as string[])[1])).toEqual(['1.2', '3a']);
  });
});
