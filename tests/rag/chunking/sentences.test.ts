import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { splitSentences } from '../../../src/rag/chunking/index.js';
import { segmentBoundaries } from '../../../src/rag/chunking/sentences.js';
import { normalizeText } from '../../../src/rag/text/normalize.js';
import type { Sentence } from '../../../src/rag/types.js';

const SEED_LINES = readFileSync(
  new URL('../../fixtures/corpus-seed/000_12ca703743a789d0.txt', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter((line) => line !== '');
const SEED = normalizeText(SEED_LINES.join('\n'));

function texts(text: string, language?: string): string[] {
  return splitSentences(text, language).map((s) => s.text);
}

function expectInvariants(text: string, sentences: Sentence[]): void {
  let previousEnd = 0;
  const covered = new Array<boolean>(text.length).fill(false);
  sentences.forEach((s, i) => {
    expect(s.index).toBe(i);
    expect(text.slice(s.start, s.end)).toBe(s.text);
    expect(s.text).toBe(s.text.trim());
    expect(s.text.length).toBeGreaterThan(0);
    expect(s.start).toBeGreaterThanOrEqual(previousEnd);
    previousEnd = s.end;
    for (let k = s.start; k < s.end; k += 1) covered[k] = true;
  });
  for (let k = 0; k < text.length; k += 1) {
    if (!/\s/.test(text[k] ?? ''))
      expect(covered[k], `character ${k} (${text[k]}) is in no sentence`).toBe(true);
  }
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pieces of text that exercise the splitter's corrections. */
const PIECES = [
  'M.',
  'Mme.',
  'Dr.',
  'etc.',
  'p. ex.',
  'J.',
  'K.',
  'Smith',
  'dit',
  'il',
  'Elle',
  '«',
  '»',
  '?',
  '!',
  '.',
  '…',
  '...',
  '3.5',
  '1. 000',
  'https://ex.com/a.b?c=d',
  '“Why?”',
  '’',
  "'",
  '"',
  ',',
  ' ',
  '  ',
  '\n',
  '\n\n',
  '\t',
  'é',
  'Ünïcödé',
  '🙂',
  '(',
  ')',
  'U.S.',
  'no.',
  '12',
];
/** `count` random pieces, each followed by a space more often than not. */
function randomText(random: () => number, count: number, pieces: readonly string[] = PIECES): string {
  return Array.from({ length: count }, () => {
    const piece = pieces[Math.floor(random() * pieces.length)] ?? '';
    return random() < 0.6 ? `${piece} ` : piece;
  }).join('');
}

describe('splitSentences', () => {
  it('splits the seed article into its ten lines, one sentence each, with exact offsets', () => {
    const sentences = splitSentences(SEED);
    expect(sentences.map((s) => s.text)).toEqual(SEED_LINES);
    expectInvariants(SEED, sentences);
  });

  it('always splits at a paragraph break, even without final punctuation', () => {
    expect(texts('Un titre sans point\n\nune suite en minuscules.')).toEqual([
      'Un titre sans point',
      'une suite en minuscules.',
    ]);
  });

  it('does not split after the titles M., MM., Mme. and Dr.', () => {
    expect(
      texts('M. Smith a dit bonjour. Mme. Dupont aussi. MM. Durand et Petit sont là. Dr. House arrive.'),
    ).toEqual([
      'M. Smith a dit bonjour.',
      'Mme. Dupont aussi.',
      'MM. Durand et Petit sont là.',
      'Dr. House arrive.',
    ]);
  });

  it('does not split after English titles Mr. and Mrs.', () => {
    expect(texts('Mr. Smith went to Washington. Mrs. Jones stayed home.', 'en')).toEqual([
      'Mr. Smith went to Washington.',
      'Mrs. Jones stayed home.',
    ]);
  });

  it('keeps initials with the name they belong to', () => {
    expect(texts('J. K. Rowling a écrit un livre. George W. Bush aussi.')).toEqual([
      'J. K. Rowling a écrit un livre.',
      'George W. Bush aussi.',
    ]);
  });

  it('still splits after a lone capital letter that ends a sentence', () => {
    expect(texts('Il a choisi le plan B. Ensuite il est parti.')).toEqual([
      'Il a choisi le plan B.',
      'Ensuite il est parti.',
    ]);
  });

  it('does not split after « etc. » or « p. ex. » followed by a lowercase word', () => {
    expect(texts('Des fruits, etc. et des légumes. Des pommes, p. ex. des reinettes. Fin.')).toEqual([
      'Des fruits, etc. et des légumes.',
      'Des pommes, p. ex. des reinettes.',
      'Fin.',
    ]);
  });

  it('splits after « etc. » followed by a capitalised sentence', () => {
    expect(texts('Des pommes, des poires, etc. La suite arrive.')).toEqual([
      'Des pommes, des poires, etc.',
      'La suite arrive.',
    ]);
  });

  it('does not split after an abbreviation followed by a number', () => {
    expect(texts('Voir p. 12 et janv. 2024 pour le détail. Fin.')).toEqual([
      'Voir p. 12 et janv. 2024 pour le détail.',
      'Fin.',
    ]);
  });

  it('keeps a question inside guillemets that the sentence continues in lowercase', () => {
    expect(texts('Il a dit « Pourquoi ? » puis il est parti. Ensuite « Quoi ! » cria-t-il.')).toEqual([
      'Il a dit « Pourquoi ? » puis il est parti.',
      'Ensuite « Quoi ! » cria-t-il.',
    ]);
  });

  it('keeps the closing guillemet with the quoted question when a new sentence follows', () => {
    expect(texts('« Est-ce vrai ? » Elle ne répondit pas. « Oui ! », dit-il.')).toEqual([
      '« Est-ce vrai ? »',
      'Elle ne répondit pas.',
      '« Oui ! », dit-il.',
    ]);
  });

  it('keeps closing English quotes with their sentence', () => {
    expect(texts('He asked “Why?” and left. “Hello,” she said. It was over.', 'en')).toEqual([
      'He asked “Why?” and left.',
      '“Hello,” she said.',
      'It was over.',
    ]);
  });

  it('does not split decimal numbers or URLs', () => {
    expect(texts('Le prix est de 3.5 euros. Voir https://example.com/a.b?c=d. Puis la suite.')).toEqual([
      'Le prix est de 3.5 euros.',
      'Voir https://example.com/a.b?c=d.',
      'Puis la suite.',
    ]);
  });

  it('splits after three dots followed by a capital but keeps an ellipsis that continues in lowercase', () => {
    expect(texts('Il attendait… puis il partit. Fin... Ensuite le silence.')).toEqual([
      'Il attendait… puis il partit.',
      'Fin...',
      'Ensuite le silence.',
    ]);
  });

  it('trims whitespace around sentences and skips blank paragraphs', () => {
    const text = '  Une phrase.   Deux phrases.  \n\n   \n\n Trois.  ';
    const sentences = splitSentences(text);
    expect(sentences.map((s) => s.text)).toEqual(['Une phrase.', 'Deux phrases.', 'Trois.']);
    expectInvariants(text, sentences);
  });

  it('returns no sentence for an empty or blank text', () => {
    expect(splitSentences('')).toEqual([]);
    expect(splitSentences(' \n\n \t')).toEqual([]);
  });

  it('falls back to French for an unusable language tag', () => {
    expect(texts('M. Smith a dit oui. Fin.', 'not a language')).toEqual(['M. Smith a dit oui.', 'Fin.']);
  });

  it('keeps the invariants on random texts made of tricky pieces', () => {
    const random = rng(99);
    for (let i = 0; i < 400; i += 1) {
      const text = randomText(random, 1 + Math.floor(random() * 30));
      expectInvariants(text, splitSentences(text));
      expectInvariants(normalizeText(text), splitSentences(normalizeText(text)));
    }
  });

  it('finds in windows the boundaries one segmentation of the whole paragraph finds', () => {
    const oneLine = PIECES.filter((piece) => !piece.includes('\n'));
    const random = rng(31);
    for (let i = 0; i < 300; i += 1) {
      const paragraph = randomText(random, 1 + Math.floor(random() * 300), oneLine);
      const language = random() < 0.5 ? 'fr' : 'en';
      const whole = [...new Intl.Segmenter(language, { granularity: 'sentence' }).segment(paragraph)]
        .map((s) => s.index)
        .filter((index) => index > 0);
      expect(segmentBoundaries(paragraph, language, 128, 64)).toEqual(whole);
      expect(segmentBoundaries(paragraph, language, 256, 64)).toEqual(whole);
    }
  });

  it('never gives the segmenter a whole long line, so its cost grows with the length, not its square', () => {
    const sentence = 'Le ministère de la Défense a réagi à l’enquête publiée jeudi. ';
    const line = sentence.repeat(2000).trim();
    const inputs: number[] = [];
    const original = Intl.Segmenter.prototype.segment;
    const spy = vi.spyOn(Intl.Segmenter.prototype, 'segment').mockImplementation(function (
      this: Intl.Segmenter,
      input: string,
    ) {
      inputs.push(input.length);
      return original.call(this, input);
    });
    try {
      const sentences = splitSentences(line);
      expect(sentences).toHaveLength(2000);
      expect(sentences.every((s) => s.text === sentence.trim())).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(Math.max(...inputs)).toBeLessThanOrEqual(2048);
    expect(inputs.reduce((a, b) => a + b, 0)).toBeLessThan(2 * line.length);
  });
});
