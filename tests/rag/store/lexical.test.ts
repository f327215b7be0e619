import { describe, expect, it } from 'vitest';
import { LexicalIndex } from '../../../src/rag/store/lexical.js';

const all = () => true;

describe('LexicalIndex (BM25)', () => {
  it('ranks the chunk with the rarer matching terms first, through stemming and accent folding', () => {
    const index = new LexicalIndex();
    index.add(1, 'Microsoft a suspendu ses services cloud.');
    index.add(2, 'Une enquête interne a révélé la surveillance des appels.');
    index.add(3, 'Microsoft publie ses résultats et ses services.');
    const hits = index.query('Quelles enquetes sur la surveillance ?', 3, all);
    expect(hits.map((h) => h.label)).toEqual([2]);
    const microsoft = index.query('services de Microsoft suspendus', 3, all);
    expect(microsoft[0]?.label).toBe(1);
    expect(microsoft.map((h) => h.label).sort()).toEqual([1, 3]);
    expect(microsoft[0]!.score).toBeGreaterThan(microsoft[1]!.score);
  });

  it('returns at most k hits, only visible ones, and nothing for an unknown or empty query', () => {
    const index = new LexicalIndex();
    for (let i = 0; i < 50; i += 1) index.add(i, `Azure document numéro ${i}`);
    expect(index.query('Azure', 5, all)).toHaveLength(5);
    expect(index.query('Azure', 100, (label) => label % 2 === 0).every((h) => h.label % 2 === 0)).toBe(true);
    expect(index.query('Azure', 100, (label) => label % 2 === 0)).toHaveLength(25);
    expect(index.query('pamplemousse', 5, all)).toEqual([]);
    expect(index.query('', 5, all)).toEqual([]);
  });

  it('forgets removed chunks, before and after compaction, and re-adds a label cleanly', () => {
    const index = new LexicalIndex();
    for (let i = 0; i < 3000; i += 1)
      index.add(i, `Amazon reste silencieuse sur le sujet ${i % 7 === 0 ? 'Google' : 'Nimbus'}`);
    index.remove(0);
    expect(index.query('Google', 3000, all).map((h) => h.label)).not.toContain(0);
    for (let i = 1; i < 2000; i += 1) index.remove(i);
    expect(index.size).toBe(1000);
    const google = index.query('Google', 3000, all).map((h) => h.label);
    expect(google.every((label) => label >= 2000 && label % 7 === 0)).toBe(true);
    expect(google).toHaveLength([...Array(1000).keys()].filter((i) => (i + 2000) % 7 === 0).length);
    index.add(2001, 'Un texte tout à fait différent sur Azure.');
    expect(index.query('Nimbus', 3000, all).map((h) => h.label)).not.toContain(2001);
    expect(index.query('Azure', 5, all).map((h) => h.label)).toEqual([2001]);
  });
});

describe('LexicalIndex serialisation', () => {
  it('gives back an index that answers every query identically, and that can still add and remove', async () => {
    const index = new LexicalIndex();
    const words = [
      'Azure',
      'Microsoft',
      'données',
      'armée',
      'Amazon',
      'Google',
      'enquête',
      'surveillance',
      'appels',
      'Gaza',
    ];
    for (let i = 0; i < 400; i += 1)
      index.add(1000 + i, `${words[i % 10]} ${words[(i * 7) % 10]} ${words[(i * 3) % 10]} numéro ${i % 37}`);
    for (let i = 0; i < 400; i += 3) index.remove(1000 + i);
    const copy = LexicalIndex.deserialize(await index.serialize());
    expect(copy.size).toBe(index.size);
    for (const q of [
      'Azure données',
      'enquête sur la surveillance',
      'Amazon et Google',
      'numéro 12',
      'rien',
    ]) {
      expect(copy.query(q, 20, all)).toEqual(index.query(q, 20, all));
    }
    copy.remove(1001);
    copy.add(5000, 'Un tout nouveau passage sur Nimbus.');
    expect(copy.query('Nimbus', 5, all).map((h) => h.label)).toEqual([5000]);
    expect(copy.query('Azure données', 400, all).map((h) => h.label)).not.toContain(1001);
  });

  it('refuses bytes that are not an index', async () => {
    expect(() => LexicalIndex.deserialize(Buffer.from('not an index at all, clearly'))).toThrow();
    const bytes = await new LexicalIndex().serialize();
    expect(() => LexicalIndex.deserialize(bytes.subarray(0, bytes.length - 1))).toThrow();
  });
});
