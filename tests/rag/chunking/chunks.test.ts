import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHUNKER_VERSION, chunkDocument } from '../../../src/rag/chunking/index.js';
import { normalizeText } from '../../../src/rag/text/normalize.js';
import type { Chunk, Sentence } from '../../../src/rag/types.js';

const SEED = normalizeText(
  readFileSync(new URL('../../fixtures/corpus-seed/000_12ca703743a789d0.txt', import.meta.url), 'utf8'),
);

function numbered(count: number, words = 3): string {
  return Array.from({ length: count }, (_, i) => `Phrase ${i} ${'mot '.repeat(words).trim()}.`).join(' ');
}

function expectChunkInvariants(text: string, docId: string, sentences: Sentence[], chunks: Chunk[]): void {
  const seen = new Set<number>();
  chunks.forEach((c, i) => {
    expect(c.id).toBe(`${docId}#${i}`);
    expect(c.docId).toBe(docId);
    expect(c.index).toBe(i);
    expect(c.text).toBe(text.slice(c.start, c.end));
    expect(c.start).toBe(sentences[c.firstSentence]?.start);
    expect(c.end).toBe(sentences[c.lastSentence]?.end);
    expect(c.lastSentence).toBeGreaterThanOrEqual(c.firstSentence);
    if (i > 0) expect(c.firstSentence).toBeGreaterThan(chunks[i - 1]?.firstSentence ?? -1);
    for (let s = c.firstSentence; s <= c.lastSentence; s += 1) seen.add(s);
  });
  expect(seen.size).toBe(sentences.length);
}

describe('chunkDocument', () => {
  it('cuts the seed article into chunks of three sentences that share one sentence and span paragraphs', () => {
    const { sentences, chunks } = chunkDocument({ id: 'seed', text: SEED });
    expect(sentences).toHaveLength(10);
    expect(chunks.map((c) => [c.firstSentence, c.lastSentence])).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 8],
      [8, 9],
    ]);
    expect(chunks[0]?.text).toContain('\n\n');
    expect(chunks[0]?.text.startsWith('Pratiquement une rupture totale')).toBe(true);
    expectChunkInvariants(SEED, 'seed', sentences, chunks);
  });

  it('names the chunker version recorded in the index manifest', () => {
    expect(CHUNKER_VERSION).toBe('sentences-v1');
  });

  it('produces disjoint consecutive windows when overlap is 0', () => {
    const text = numbered(7);
    const { sentences, chunks } = chunkDocument({ id: 'd', text }, { sentencesPerChunk: 3, overlap: 0 });
    expect(chunks.map((c) => [c.firstSentence, c.lastSentence])).toEqual([
      [0, 2],
      [3, 5],
      [6, 6],
    ]);
    expectChunkInvariants(text, 'd', sentences, chunks);
  });

  it('shares two sentences between neighbours when overlap is 2 of 4', () => {
    const text = numbered(8);
    const { chunks } = chunkDocument({ id: 'd', text }, { sentencesPerChunk: 4, overlap: 2 });
    expect(chunks.map((c) => [c.firstSentence, c.lastSentence])).toEqual([
      [0, 3],
      [2, 5],
      [4, 7],
    ]);
  });

  it('stops a chunk before it exceeds maxChars', () => {
    const text = numbered(6, 10);
    const { sentences, chunks } = chunkDocument({ id: 'd', text }, { maxChars: 120 });
    const oneSentence = sentences[0]?.text.length ?? 0;
    expect(oneSentence).toBeGreaterThan(40);
    expect(oneSentence * 3).toBeGreaterThan(120);
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(120);
    expect(chunks.every((c) => c.lastSentence - c.firstSentence + 1 === 2)).toBe(true);
    expectChunkInvariants(text, 'd', sentences, chunks);
  });

  it('makes a sentence longer than maxChars a chunk of its own and moves on', () => {
    const long = `Une phrase très longue ${'avec beaucoup de mots '.repeat(20).trim()}.`;
    const text = `Court. ${long} Fin.`;
    const { sentences, chunks } = chunkDocument({ id: 'd', text }, { maxChars: 100 });
    expect(sentences.map((s) => s.text)).toEqual(['Court.', long, 'Fin.']);
    expect(chunks.map((c) => c.text)).toEqual(['Court.', long, 'Fin.']);
    expectChunkInvariants(text, 'd', sentences, chunks);
  });

  it('returns a single chunk for a one-sentence document and none for an empty one', () => {
    expect(chunkDocument({ id: 'one', text: 'Seule phrase.' }).chunks).toEqual([
      {
        id: 'one#0',
        docId: 'one',
        index: 0,
        start: 0,
        end: 13,
        text: 'Seule phrase.',
        firstSentence: 0,
        lastSentence: 0,
      },
    ]);
    expect(chunkDocument({ id: 'empty', text: '' })).toEqual({ sentences: [], chunks: [] });
  });

  it('rejects options that could not make progress or make no sense', () => {
    expect(() => chunkDocument({ id: 'd', text: 'a.' }, { sentencesPerChunk: 0 })).toThrow(RangeError);
    expect(() => chunkDocument({ id: 'd', text: 'a.' }, { sentencesPerChunk: 2, overlap: 2 })).toThrow(
      RangeError,
    );
    expect(() => chunkDocument({ id: 'd', text: 'a.' }, { overlap: -1 })).toThrow(RangeError);
    expect(() => chunkDocument({ id: 'd', text: 'a.' }, { maxChars: 0 })).toThrow(RangeError);
    expect(() => chunkDocument({ id: 'd', text: 'a.' }, { sentencesPerChunk: 1.5 })).toThrow(RangeError);
  });

  it('keeps the invariants for every combination of options on tricky French text', () => {
    const text = normalizeText(
      [
        'M. Smith a dit… « Pourquoi ? » demanda Mme. Dupont. Le taux est de 3.5 %.',
        'Voir https://example.com/a.b?c=d. J. K. Rowling, etc. et d’autres.',
        '« Non ! » Fin.',
        SEED,
      ].join('\n'),
    );
    for (const sentencesPerChunk of [1, 2, 3, 5]) {
      for (let overlap = 0; overlap < sentencesPerChunk; overlap += 1) {
        for (const maxChars of [1, 50, 300, 1200]) {
          const { sentences, chunks } = chunkDocument(
            { id: 'tricky', text },
            { sentencesPerChunk, overlap, maxChars },
          );
          expectChunkInvariants(text, 'tricky', sentences, chunks);
          for (const c of chunks) {
            if (c.lastSentence > c.firstSentence) expect(c.end - c.start).toBeLessThanOrEqual(maxChars);
            expect(c.lastSentence - c.firstSentence + 1).toBeLessThanOrEqual(sentencesPerChunk);
          }
        }
      }
    }
  });
});
