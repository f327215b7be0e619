import { describe, expect, it } from 'vitest';
import { retrieve, type SearchableIndex } from '../../../src/rag/retrieval/hybrid.js';
import type { ChunkRecord } from '../../../src/rag/types.js';

const record = (id: string, text = `text of ${id}`): ChunkRecord => ({
  id,
  docId: id.split('#')[0] ?? id,
  index: 0,
  start: 0,
  end: text.length,
  text,
  firstSentence: 0,
  lastSentence: 0,
  title: id,
  url: '',
  source: '',
  date: '',
  language: 'fr',
});

function index(vector: ChunkRecord[], lexical: ChunkRecord[]): SearchableIndex {
  return {
    vectorSearch: (_q, k) => vector.slice(0, k).map((r, i) => ({ record: r, score: 0.9 - i * 0.1 })),
    lexicalSearch: (_q, k) => lexical.slice(0, k).map((r, i) => ({ record: r, score: 10 - i })),
  };
}

describe('retrieve', () => {
  it('ranks first a chunk both searches agree on, with both scores kept', async () => {
    const a = record('a#0');
    const b = record('b#0');
    const c = record('c#0');
    const results = await retrieve(index([a, b, c], [b]), 'q', [], { k: 3 });
    expect(results.map((r) => r.chunk.id)).toEqual(['b#0', 'a#0', 'c#0']);
    expect(results[0]).toMatchObject({ vectorScore: expect.closeTo(0.8, 5), lexicalScore: 10 });
    expect(results[1]?.lexicalScore).toBeUndefined();
  });

  it('merges chunks with the same text, keeping the better ranked', async () => {
    const original = record('a#0', 'Amazon reste silencieuse.');
    const copy = record('copy#0', 'Amazon  reste silencieuse.');
    const results = await retrieve(index([original, copy], [original]), 'q', [], { k: 5 });
    expect(results.map((r) => r.chunk.id)).toEqual(['a#0']);
  });

  it('returns at most k chunks, and none from empty searches', async () => {
    const many = Array.from({ length: 10 }, (_, i) => record(`d${i}#0`));
    expect(await retrieve(index(many, many), 'q', [], { k: 4 })).toHaveLength(4);
    expect(await retrieve(index([], []), 'q', [], { k: 4 })).toEqual([]);
  });
});
