import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkDocument, splitSentences } from '../../src/rag/chunking/index.js';
import { normalizeText } from '../../src/rag/text/normalize.js';
import type { Chunk, Sentence } from '../../src/rag/types.js';
import { hostileText } from './hostile-text.js';

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

/** The contract of `splitSentences`, checked on one text. */
function checkSentences(text: string, sentences: Sentence[]): void {
  let previousEnd = 0;
  const covered = new Uint8Array(text.length);
  sentences.forEach((s, i) => {
    expect(s.index).toBe(i);
    expect(s.start).toBeGreaterThanOrEqual(previousEnd);
    expect(s.end).toBeGreaterThan(s.start);
    expect(s.end).toBeLessThanOrEqual(text.length);
    expect(text.slice(s.start, s.end)).toBe(s.text);
    expect(s.text.trim()).toBe(s.text);
    previousEnd = s.end;
    covered.fill(1, s.start, s.end);
  });
  let uncovered = -1;
  for (let k = 0; k < text.length && uncovered < 0; k += 1)
    if (!covered[k] && !isSpace(text[k])) uncovered = k;
  expect(uncovered, 'index of a visible character in no sentence').toBe(-1);
}

interface Options {
  sentencesPerChunk: number;
  overlap: number;
  maxChars: number;
}

/** The contract of `chunkDocument`, checked on one document. */
function checkChunks(text: string, sentences: Sentence[], chunks: Chunk[], o: Options): void {
  const seen = new Uint8Array(sentences.length);
  chunks.forEach((c, i) => {
    const head = sentences[c.firstSentence];
    const tail = sentences[c.lastSentence];
    expect(c).toMatchObject({ id: `doc#${i}`, docId: 'doc', index: i });
    expect(head?.start).toBe(c.start);
    expect(tail?.end).toBe(c.end);
    expect(c.text).toBe(text.slice(c.start, c.end));
    expect(c.text.trim()).not.toBe('');
    const count = c.lastSentence - c.firstSentence + 1;
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThanOrEqual(o.sentencesPerChunk);
    if (count > 1) expect(c.end - c.start).toBeLessThanOrEqual(o.maxChars);
    const next = sentences[c.lastSentence + 1];
    if (next && count < o.sentencesPerChunk) expect(next.end - c.start).toBeGreaterThan(o.maxChars);
    const previous = chunks[i - 1];
    if (previous) {
      expect(c.firstSentence).toBeGreaterThan(previous.firstSentence);
      expect(c.firstSentence).toBeLessThanOrEqual(previous.lastSentence + 1);
      expect(previous.lastSentence + 1 - c.firstSentence).toBeLessThanOrEqual(o.overlap);
    }
    seen.fill(1, c.firstSentence, c.lastSentence + 1);
  });
  expect(seen.every((s) => s === 1)).toBe(true);
  expect(chunks.length === 0).toBe(sentences.length === 0);
}

const options = fc.integer({ min: 1, max: 6 }).chain((sentencesPerChunk) =>
  fc.record({
    sentencesPerChunk: fc.constant(sentencesPerChunk),
    overlap: fc.integer({ min: 0, max: sentencesPerChunk - 1 }),
    maxChars: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 80, max: 2000 })),
  }),
);
const language = fc.constantFrom('fr', 'en', 'de', 'ar', 'he', 'ja', 'not a language', '');

describe('sentences and chunks of hostile text (property)', () => {
  it('sentences map back to the text, in order, trimmed, non-empty, covering every visible character', () => {
    fc.assert(
      fc.property(hostileText(), language, (raw, lang) => {
        checkSentences(raw, splitSentences(raw, lang));
        const text = normalizeText(raw);
        checkSentences(text, splitSentences(text, lang));
      }),
      { seed: 0x5e47e7ce, numRuns: 500 },
    );
  });

  it('chunks are exact spans of whole sentences, within the configured limits, covering every sentence', () => {
    fc.assert(
      fc.property(hostileText(), options, language, (raw, o, lang) => {
        for (const text of [raw, normalizeText(raw)]) {
          const { sentences, chunks } = chunkDocument({ id: 'doc', text, language: lang }, o);
          checkChunks(text, sentences, chunks, o);
        }
      }),
      { seed: 0xc4c4c4, numRuns: 500 },
    );
  });
});
