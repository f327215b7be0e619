import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPacer } from '../../../src/rag/pacing.js';
import { mergeById, newerFirst, newestDocuments, sortById } from '../../../src/rag/store/sorted-documents.js';

const byCodeUnits = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const docs = (ids: readonly string[], version = 0) => ids.map((id) => ({ id, version }));

describe('documents kept sorted by id', () => {
  it('sorts small and large sets (paced runs past 4,096) as a full sort by code units does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 6 }), { minLength: 0, maxLength: 9000 }),
        async (ids) => {
          const sorted = await sortById(docs(ids), createPacer());
          expect(sorted.map((d) => d.id)).toEqual([...ids].sort());
        },
      ),
      { numRuns: 25 },
    );
  });

  it('sorts 10,000 documents (the paced path) and merges a change into them', async () => {
    const alphabet = ['a', 'é', 'Z', '-', '0', '\u{1F600}', 'ß'];
    // 7919 · i mod 10007 is one-to-one below 10007: unique ids in a scrambled order.
    const ids = Array.from(
      { length: 10_000 },
      (_, i) => `${alphabet[i % 7]}${(i * 7919) % 10_007}${alphabet[(i * 3) % 7]}`,
    );
    expect(ids.length).toBeGreaterThan(4096);
    const sorted = await sortById(docs(ids), createPacer(0));
    expect(sorted.map((d) => d.id)).toEqual([...ids].sort());
    const dropped = new Set(ids.slice(0, 3000));
    const added = docs([...ids.slice(0, 1000), 'zzz-new', ''], 1);
    const merged = await mergeById(sorted, dropped, added, createPacer(0));
    expect(merged).toEqual([...sorted.filter((d) => !dropped.has(d.id)), ...added].sort(byCodeUnits));
  });

  it('merges a change into the sorted list: dropped ids leave, added documents enter in order, new versions win', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ maxLength: 5 }), { minLength: 0, maxLength: 6000 }),
        fc.uniqueArray(fc.string({ maxLength: 5 }), { maxLength: 50 }),
        fc.integer({ min: 1, max: 7 }),
        async (ids, extra, every) => {
          const before = docs([...ids].sort());
          const listed = ids.filter((_, i) => i % every === 0);
          // A removal may name a document the list does not hold (it is then ignored).
          const dropped = new Set([...listed, ...extra.slice(0, 3)]);
          const changed = listed.filter((_, i) => i % 2 === 0);
          const fresh = extra.filter((id) => !ids.includes(id));
          const added = docs([...changed, ...fresh], 1);
          const merged = await mergeById(before, dropped, added, createPacer());
          const expected = [...before.filter((d) => !dropped.has(d.id)), ...added].sort(byCodeUnits);
          expect(merged).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('the newest documents', () => {
  it('are the first n of every document ordered by date, newest first, then by id, whatever the input order', () => {
    const dated = fc.uniqueArray(
      fc.record({
        id: fc.string({ maxLength: 4 }),
        date: fc.constantFrom('', '2025-09-30', '2025-10-01', '2025-10-01T08:00'),
      }),
      { selector: (d) => d.id, maxLength: 60 },
    );
    fc.assert(
      fc.property(dated, fc.integer({ min: 0, max: 12 }), (documents, n) => {
        const expected = [...documents].sort(newerFirst).slice(0, n);
        expect(newestDocuments(documents, n)).toEqual(expected);
        expect(newestDocuments([...documents].reverse(), n)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('orders by date first and breaks a tie by id', () => {
    const documents = [
      { id: 'b', date: '2025-10-02' },
      { id: 'c', date: '2025-10-01' },
      { id: 'a', date: '2025-10-02' },
      { id: 'd', date: '2025-10-03' },
    ];
    expect(newestDocuments(documents, 3).map((d) => d.id)).toEqual(['d', 'a', 'b']);
  });
});
