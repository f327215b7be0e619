import { describe, expect, it } from 'vitest';
import { loadHnswlib } from '../../../src/rag/store/hnswlib.js';
import { LexicalIndex, type Bm25Kernel } from '../../../src/rag/store/lexical.js';
import { analyze } from '../../../src/rag/text/tokenize.js';
import { countTurns } from '../../helpers/event-loop.js';

/** The file's bytes, from the parts `serialize` writes one after the other. */
const saved = async (index: LexicalIndex) => Buffer.concat(await index.serialize());

/** Native BM25, part of the int8 addon made at install for the SIMD level this CPU runs (linux-x64). */
const nativeKernel = loadHnswlib().int8?.bm25TopK;

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

  it('forgets removed chunks, before and after compaction, and re-adds a label cleanly', async () => {
    const index = new LexicalIndex();
    for (let i = 0; i < 3000; i += 1)
      index.add(i, `Amazon reste silencieuse sur le sujet ${i % 7 === 0 ? 'Google' : 'Nimbus'}`);
    index.remove(0);
    expect(index.query('Google', 3000, all).map((h) => h.label)).not.toContain(0);
    for (let i = 1; i < 2000; i += 1) index.remove(i);
    expect(index.size).toBe(1000);
    expect(index.needsCompaction).toBe(true);
    const before = index.query('Google', 3000, all);
    await index.compact();
    expect(index.needsCompaction).toBe(false);
    expect(index.query('Google', 3000, all)).toEqual(before);
    const google = index.query('Google', 3000, all).map((h) => h.label);
    expect(google.every((label) => label >= 2000 && label % 7 === 0)).toBe(true);
    expect(google).toHaveLength([...Array(1000).keys()].filter((i) => (i + 2000) % 7 === 0).length);
    index.add(2001, 'Un texte tout à fait différent sur Azure.');
    expect(index.query('Nimbus', 3000, all).map((h) => h.label)).not.toContain(2001);
    expect(index.query('Azure', 5, all).map((h) => h.label)).toEqual([2001]);
  });
});

describe('LexicalIndex reserve', () => {
  const text = (i: number) =>
    `${['Azure', 'Microsoft', 'armée', 'Gaza', 'enquête'][i % 5]} ${['appels', 'données'][i % 2]} numéro ${i % 41}`;
  const queries = ['Azure appels', 'armée données numéro 7', 'Gaza', 'enquête numéro 40'];

  it('makes room for a change before it is added, answering as the index grown chunk by chunk', async () => {
    const grown = new LexicalIndex();
    const reserved = new LexicalIndex();
    for (let i = 0; i < 300; i += 1) {
      grown.add(i, text(i));
      reserved.add(i, text(i));
    }
    // Loaded: the chunks added after a load keep their terms in arrays that start at the loaded slots.
    const loaded = LexicalIndex.deserialize(await saved(reserved));
    for (const index of [reserved, loaded]) await index.reserve(5000, 5300);
    for (let i = 300; i < 5300; i += 1) for (const index of [grown, reserved, loaded]) index.add(i, text(i));
    for (let i = 0; i < 5300; i += 11) for (const index of [grown, reserved, loaded]) index.remove(i);
    for (const q of queries) {
      const expected = grown.query(q, 50, all);
      expect(expected.length).toBeGreaterThan(0);
      expect(reserved.query(q, 50, all)).toEqual(expected);
      expect(loaded.query(q, 50, all)).toEqual(expected);
    }
  });

  it('lets events run between the arrays it makes room in', async () => {
    const index = new LexicalIndex();
    const { turns } = await countTurns(() => index.reserve(100_000, 100_000));
    expect(turns).toBeGreaterThanOrEqual(7);
  });
});

describe('LexicalIndex removals', () => {
  it('scores as an index built from the survivors only, once the added chunks fill more than one block of terms', () => {
    // 40,000 chunks of 32 distinct words: 1.28M term ids, more than one 1M-entry block.
    const text = (label: number) =>
      Array.from({ length: 32 }, (_, w) => `mot${(label * 7 + w * 131) % 5000}x${w}`).join(' ');
    const churned = new LexicalIndex();
    const survivors = new LexicalIndex();
    for (let label = 0; label < 40_000; label += 1) {
      churned.add(label, text(label));
      if (label % 3 !== 0) survivors.add(label, text(label));
    }
    for (let label = 0; label < 40_000; label += 3) churned.remove(label);
    for (const query of ['mot10x0 mot141x1', 'mot4999x31', 'mot2500x12 mot7x0 mot4000x5', 'mot0x0']) {
      const got = churned.query(query, 20, all);
      expect(got.length).toBeGreaterThan(0);
      expect(got).toEqual(survivors.query(query, 20, all));
    }
  });
});

describe('LexicalIndex serialisation', () => {
  it('writes its file in slices of at most 1 MB that load back into the same index', async () => {
    const index = new LexicalIndex();
    for (let label = 0; label < 60_000; label += 1)
      index.add(label, `mot${label % 977} terme${label % 131} enquête ${label % 7 ? 'Azure' : 'Nimbus'}`);
    for (let label = 0; label < 60_000; label += 9) index.remove(label);
    const slices: Buffer[] = [];
    await index.writeTo(async (slice) => {
      slices.push(Buffer.from(slice));
    });
    expect(Math.max(...slices.map((b) => b.length))).toBeLessThanOrEqual(1 << 20);
    expect(slices.filter((b) => b.length === 1 << 20).length).toBeGreaterThan(0);
    const loaded = LexicalIndex.deserialize(Buffer.concat(slices));
    for (const query of ['mot12 Nimbus', 'terme7 enquête', 'Azure mot976'])
      expect(loaded.query(query, 25, all)).toEqual(index.query(query, 25, all));
    expect(loaded.size).toBe(index.size);
  });

  it('looks at its pacer every 4,096 entries it copies, not only between 1 MB slices', async () => {
    const index = new LexicalIndex();
    for (let label = 0; label < 20_000; label += 1)
      index.add(label, `mot${label % 977} terme${label % 131} enquête`);
    const sizes: number[] = [];
    let ticks = 0;
    await index.writeTo(
      async (slice) => {
        if (sizes.length === 0) sizes.push(...new Int32Array(slice.slice().buffer));
      },
      {
        tick: () => {
          ticks += 1;
          return undefined;
        },
      },
    );
    const [, live = 0, , postings = 0] = sizes;
    expect(live).toBe(20_000);
    // Each live slot's label and length, then each posting's slot and term frequency.
    expect(ticks).toBeGreaterThanOrEqual(Math.floor((2 * live + 2 * postings) / 4096));
  });

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
    const copy = LexicalIndex.deserialize(await saved(index));
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
    // Removals after a load must undo exactly the terms of each chunk: the loaded copy and the original, given the
    // same further changes (enough to compact the postings), score every question alike.
    index.remove(1001);
    index.add(5000, 'Un tout nouveau passage sur Nimbus.');
    for (let i = 1; i < 400; i += 3) {
      index.remove(1000 + i);
      copy.remove(1000 + i);
    }
    for (const q of [
      'Azure données',
      'enquête sur la surveillance',
      'Amazon et Google',
      'numéro 12',
      'Nimbus',
    ]) {
      expect(copy.query(q, 50, all)).toEqual(index.query(q, 50, all));
    }
  });

  it('refuses bytes that are not an index', async () => {
    expect(() => LexicalIndex.deserialize(Buffer.from('not an index at all, clearly'))).toThrow();
    const bytes = await saved(new LexicalIndex());
    expect(() => LexicalIndex.deserialize(bytes.subarray(0, bytes.length - 1))).toThrow();
  });
});

describe('LexicalIndex pruning', () => {
  /** BM25 over every posting, the way the index defines it: the oracle the pruned query must match. */
  function exhaustive(docs: { label: number; terms: string[] }[], query: string): Map<number, number> {
    const n = docs.length;
    const average = docs.reduce((sum, d) => sum + d.terms.length, 0) / n;
    const scores = new Map<number, number>();
    for (const term of new Set(analyze(query))) {
      const holders = docs.filter((d) => d.terms.includes(term));
      if (holders.length === 0) continue;
      const idf = Math.log(1 + (n - holders.length + 0.5) / (holders.length + 0.5));
      for (const d of holders) {
        const tf = d.terms.filter((t) => t === term).length;
        const norm = 1.2 * (1 - 0.75 + (0.75 * d.terms.length) / average);
        scores.set(d.label, (scores.get(d.label) ?? 0) + (idf * tf * 2.2) / (tf + norm));
      }
    }
    return scores;
  }

  const cases: [string, boolean, number | undefined, Bm25Kernel | undefined][] = [
    ['built in memory', false, undefined, undefined],
    ['saved, loaded, then changed and compacted', true, undefined, undefined],
    ['scored 64 slots at a time', false, 64, undefined],
    ['saved, loaded, changed, compacted, scored 64 slots at a time', true, 64, undefined],
  ];
  if (nativeKernel)
    cases.push(
      ['native kernel', false, undefined, nativeKernel],
      ['native kernel, saved, loaded, changed, compacted, scored 64 slots at a time', true, 64, nativeKernel],
    );
  it.each(cases)(
    'returns the exhaustive BM25 top k for questions mixing rare and common words (%s)',
    async (_, reload, scoreBlock, kernel) => {
      let seed = 42;
      const random = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
      const vocabulary = Array.from(
        { length: 300 },
        (_, i) => `mot${String.fromCharCode(97 + (i % 26))}${i}x`,
      );
      // Zipf-like: word i is drawn with weight 1 / (i + 1), so a few words are in most chunks.
      const pick = () =>
        vocabulary[Math.min(299, Math.floor(Math.exp(random() * Math.log(300))) - 1)] as string;
      let index = new LexicalIndex({ scoreBlock, kernel });
      const texts = new Map<number, string>();
      const addRange = (from: number, to: number) => {
        for (let label = from; label < to; label += 1) {
          const text = Array.from({ length: 5 + Math.floor(random() * 30) }, pick).join(' ');
          texts.set(label, text);
          index.add(label, text);
        }
      };
      const removeEvery = (step: number, from: number, to: number) => {
        for (let label = from; label < to; label += step) {
          index.remove(label);
          texts.delete(label);
        }
      };
      addRange(0, 1500);
      removeEvery(7, 0, 1500);
      if (reload) {
        // Postings loaded from a file and postings added after it live apart; both must count, and compaction must
        // keep exactly the live ones of each.
        index = LexicalIndex.deserialize(await saved(index), { scoreBlock, kernel });
        addRange(1500, 2000);
        removeEvery(2, 1, 2000);
        expect(index.needsCompaction).toBe(true);
        await index.compact();
        // Removals after a compaction read the compacted terms of the chunks added since the load.
        addRange(2000, 2300);
        removeEvery(6, 1502, 2300);
      }
      const docs = [...texts].map(([label, text]) => ({ label, terms: analyze(text) }));
      let compared = 0;
      for (let q = 0; q < 150; q += 1) {
        const query = Array.from({ length: 1 + Math.floor(random() * 6) }, pick).join(' ');
        const k = [1, 5, 10, 40][q % 4] as number;
        const visible = q % 3 === 0 ? (label: number) => label % 5 !== 0 : () => true;
        const all = exhaustive(docs, query);
        const expected = [...all]
          .filter(([label]) => visible(label))
          .sort((a, b) => b[1] - a[1] || a[0] - b[0])
          .slice(0, k);
        const got = index.query(query, k, visible);
        expect(got).toHaveLength(expected.length);
        got.forEach((hit, i) => {
          expect(hit.score).toBeCloseTo(expected[i]![1], 4);
          // Ties may come in another order; each chunk's score must still be its exhaustive score.
          expect(hit.score).toBeCloseTo(all.get(hit.label)!, 4);
          expect(visible(hit.label)).toBe(true);
        });
        compared += got.length;
      }
      expect(compared).toBeGreaterThan(1000);
    },
  );
});

describe.runIf(nativeKernel !== undefined)('LexicalIndex native kernel', () => {
  const kernel = nativeKernel!;

  it('returns exactly the hits and scores of the JavaScript loop, on loaded and added postings', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
    const words = Array.from({ length: 400 }, (_, i) => `terme${i}`);
    const pick = () => words[Math.min(399, Math.floor(Math.exp(random() * Math.log(400))) - 1)] as string;
    const text = () => Array.from({ length: 3 + Math.floor(random() * 40) }, pick).join(' ');
    const built = new LexicalIndex();
    for (let label = 0; label < 3000; label += 1) built.add(label, text());
    for (let label = 0; label < 3000; label += 11) built.remove(label);
    const bytes = await saved(built);
    const plain = LexicalIndex.deserialize(bytes, { scoreBlock: 256 });
    const native = LexicalIndex.deserialize(bytes, { scoreBlock: 256, kernel });
    for (let label = 3000; label < 3600; label += 1) {
      const added = text();
      plain.add(label, added);
      native.add(label, added);
    }
    for (let label = 5; label < 3600; label += 13) {
      plain.remove(label);
      native.remove(label);
    }
    let hits = 0;
    for (let q = 0; q < 200; q += 1) {
      const query = Array.from({ length: 1 + Math.floor(random() * 8) }, pick).join(' ');
      const k = [1, 10, 50, 500][q % 4] as number;
      const visible = q % 2 === 0 ? (label: number) => label % 3 !== 0 : all;
      const expected = plain.query(query, k, visible);
      expect(native.query(query, k, visible)).toEqual(expected);
      hits += expected.length;
    }
    expect(hits).toBeGreaterThan(10_000);
  });

  it('refuses malformed arguments with a TypeError instead of reading out of bounds', () => {
    const slots = [Int32Array.of(0, 1, 2)];
    const tfs = [Uint16Array.of(1, 1, 1)];
    const norms = Float32Array.of(1, 1, 1);
    const alive = Uint8Array.of(1, 1, 1);
    const labels = Int32Array.of(10, 11, 12);
    const call = (lengths: Int32Array, slotCount: number, listTfs = tfs) =>
      kernel(slots, listTfs, lengths, Float64Array.of(1), norms, alive, labels, slotCount, 64, 2);
    expect(call(Int32Array.of(3), 3).labels).toEqual([10, 11]);
    expect(() => call(Int32Array.of(4), 3)).toThrow(/shorter than its length/);
    expect(() => call(Int32Array.of(3), 4)).toThrow(/slotCount/);
    expect(() => call(Int32Array.of(3), 3, [Uint16Array.of(1)])).toThrow(/shorter than its length/);
    expect(() => call(Int32Array.of(3, 1), 3)).toThrow(/one entry per list/);
  });
});
