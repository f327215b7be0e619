import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRandom, generateCorpus, generateQuestions } from '../../../src/cli/bench-corpus.js';
import { chunkCorpus } from '../../../src/cli/bench-task.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { GraphShard, type GraphParams } from '../../../src/rag/store/hnsw-shard.js';
import { loadHnswlib, type Int8GraphModule } from '../../../src/rag/store/hnswlib.js';
import { Int8Scan, isScanFile } from '../../../src/rag/store/int8-scan.js';
import { NibbleCodes } from '../../../src/rag/store/nibble-codes.js';
import { temporaryDirectory } from '../../helpers/documents.js';
import { saveProjectedShard } from '../../helpers/graph-files.js';

/** The scan is part of the int8 addon made at install for the SIMD level this CPU runs (linux-x64). */
const addon = loadHnswlib().int8;

const dotOf = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += (a[i] as number) * (b[i] as number);
  return sum;
};

describe.runIf(addon !== undefined)('the int8 scan', () => {
  const lib = addon as Int8GraphModule;
  // 40 codes: one 32-code SIMD step and 8 left for the plain loop.
  const dims = 40;
  const count = 300;
  const random = createRandom(17);
  const code = () => Math.round(random() * 254) - 127;
  const codes = Int8Array.from({ length: count * dims }, code);
  const labels = Float64Array.from({ length: count }, (_, i) => i * 3 + 1);
  const deleted = Uint8Array.from({ length: count }, (_, i) => (i % 7 === 0 ? 1 : 0));
  const query = Int8Array.from({ length: dims }, code);
  const rowCodes = (row: number) => codes.subarray(row * dims, (row + 1) * dims);
  /** Distances of the k best rows a plain loop finds among the first `rows`. */
  const expected = (k: number, bound: number, rows = count) =>
    Array.from({ length: rows }, (_, row) => row)
      .filter((row) => !deleted[row] && (labels[row] as number) < bound)
      .map((row) => -dotOf(rowCodes(row), query))
      .sort((a, b) => a - b)
      .slice(0, k);

  it('finds the k nearest points not deleted and below the bound, with the negated dot product', () => {
    for (const bound of [Infinity, 400]) {
      const found = lib.scanKnn(codes, labels, deleted, count, query, 10, bound);
      expect(found.distances).toEqual(expected(10, bound));
      found.neighbors.forEach((label, i) => {
        const row = (label - 1) / 3;
        expect(deleted[row]).toBe(0);
        expect(label).toBeLessThan(bound);
        expect(-dotOf(rowCodes(row), query)).toBe(found.distances[i]);
      });
    }
  });

  it('keeps the first rows it meets among equal scores, deleted and hidden rows left out', () => {
    // A query of zeros scores every row 0: the ten kept are the first ten rows that are neither deleted nor hidden.
    const zeros = new Int8Array(dims);
    const visible = Array.from({ length: count }, (_, row) => row).filter(
      (row) => !deleted[row] && (labels[row] as number) < 700,
    );
    const found = lib.scanKnn(codes, labels, deleted, count, zeros, 10, 700);
    expect([...found.neighbors].sort((a, b) => a - b)).toEqual(
      visible.slice(0, 10).map((row) => labels[row] as number),
    );
    expect(found.distances.every((distance) => distance === 0)).toBe(true);
  });

  it('returns what there is when k exceeds it, and refuses arrays that do not hold the count', () => {
    expect(lib.scanKnn(codes, labels, deleted, 5, query, 10, Infinity).distances).toEqual(
      expected(10, Infinity, 5),
    );
    expect(lib.scanKnn(codes, labels, deleted, count, query, 0, Infinity).neighbors).toEqual([]);
    expect(() => lib.scanKnn(codes, labels, deleted, count + 1, query, 10, Infinity)).toThrow(RangeError);
    expect(() =>
      lib.scanKnn(new Float32Array(4) as unknown as Int8Array, labels, deleted, 1, query, 1, Infinity),
    ).toThrow(TypeError);
  });

  describe('the 4-bit first pass', () => {
    // 72 codes: 36 bytes of 4-bit codes a row, one 32-byte SIMD step and 4 left for the plain loop. The dimensions
    // spread less and less, as a projection's do.
    const d = 72;
    const rows = 3000;
    const structured = Int8Array.from({ length: rows * d }, (_, i) =>
      Math.round((random() - 0.5) * 250 * Math.exp(-(i % d) / 24)),
    );
    const rowLabels = Float64Array.from({ length: rows }, (_, i) => i * 2 + 1);
    const gone = Uint8Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const nibbles = new NibbleCodes(d);
    nibbles.update(structured, rows);
    const queryOf = (row: number) => structured.slice(row * d, (row + 1) * d);
    const scan4 = (query: Int8Array, candidates: number, k: number, bound = Infinity) =>
      lib.scanKnn4!(
        nibbles.codes,
        structured,
        rowLabels,
        gone,
        rows,
        nibbles.weights(query, new Int8Array(d)),
        query,
        candidates,
        k,
        bound,
      );

    it('returns exactly what scanKnn returns when every row is a candidate', () => {
      for (const row of [1, 7, 500, 2999]) {
        const query = queryOf(row);
        for (const bound of [Infinity, 3001])
          expect(scan4(query, rows, 20, bound)).toEqual(
            lib.scanKnn(structured, rowLabels, gone, rows, query, 20, bound),
          );
      }
    });

    it('returns exactly what scanKnn returns at every row size the SIMD kernel is unrolled for', () => {
      // 64 to 256 codes a row; 1,001 rows: blocks of 512 rows, then 489, so four rows at a time and one left.
      for (const width of [64, 128, 192, 256]) {
        const many = 1001;
        const codesOf = Int8Array.from({ length: many * width }, (_, i) =>
          Math.round((random() - 0.5) * 250 * Math.exp(-(i % width) / 48)),
        );
        const labelsOf = Float64Array.from({ length: many }, (_, i) => i + 10);
        const goneOf = Uint8Array.from({ length: many }, (_, i) => (i % 9 === 4 ? 1 : 0));
        const packed = new NibbleCodes(width);
        packed.update(codesOf, many);
        for (const row of [0, 500, 1000]) {
          const query = codesOf.slice(row * width, (row + 1) * width);
          const weights = packed.weights(query, new Int8Array(width));
          expect(
            lib.scanKnn4!(packed.codes, codesOf, labelsOf, goneOf, many, weights, query, many, 15, Infinity),
          ).toEqual(lib.scanKnn(codesOf, labelsOf, goneOf, many, query, 15, Infinity));
          // The first pass alone: every row scored from its 4-bit codes, as a plain loop computes it.
          const firstPass = lib.scanKnn4!(
            packed.codes,
            codesOf,
            labelsOf,
            goneOf,
            many,
            weights,
            query,
            15,
            15,
            1e9,
          );
          const nibbleScore = (r: number) => {
            let sum = 0;
            for (let j = 0; j < width / 2; j += 1) {
              const byte = packed.codes[r * (width / 2) + j] as number;
              sum += (byte & 15) * (weights[j] as number) + (byte >> 4) * (weights[j + width / 2] as number);
            }
            return sum;
          };
          const best = Array.from({ length: many }, (_, r) => r)
            .filter((r) => !goneOf[r])
            .sort((a, b) => nibbleScore(b) - nibbleScore(a) || a - b);
          const floor = nibbleScore(best[14] as number);
          for (const label of firstPass.neighbors)
            expect(nibbleScore(label - 10)).toBeGreaterThanOrEqual(floor);
        }
      }
    });

    it('finds nearly all of the int8 top 10 among 42 candidates, with their exact int8 distances', () => {
      let shared = 0;
      for (let row = 1; row < rows; row += 30) {
        const query = queryOf(row);
        const exact = lib.scanKnn(structured, rowLabels, gone, rows, query, 10, Infinity);
        const found = scan4(query, 42, 10);
        found.neighbors.forEach((label, i) => {
          const at = (label - 1) / 2;
          expect(gone[at]).toBe(0);
          expect(found.distances[i]).toBe(-dotOf(structured.subarray(at * d, (at + 1) * d), query));
        });
        shared += found.neighbors.filter((label) => exact.neighbors.includes(label)).length;
      }
      expect(shared / (100 * 10)).toBeGreaterThan(0.95);
    });

    it('encodes a dimension in order over most of the 16 values, and a dimension at 0 as the middle value', () => {
      // Rows that differ in one dimension only: more of it must never get a lower code.
      const codes = new Int8Array(64 * 2);
      for (let row = 0; row < 64; row += 1) codes[row * 2] = row * 4 - 127;
      const two = new NibbleCodes(2);
      two.update(codes, 64);
      const lowNibbles = Array.from(two.codes, (byte) => byte & 15);
      expect(lowNibbles).toEqual([...lowNibbles].sort((a, b) => a - b));
      expect(new Set(lowNibbles).size).toBeGreaterThanOrEqual(8);
      expect(Array.from(two.codes, (byte) => byte >> 4)).toEqual(new Array(64).fill(8));
    });

    it('refuses arguments that do not fit', () => {
      const query = queryOf(0);
      expect(() => scan4(query, 5, 10)).toThrow(RangeError);
      expect(() =>
        lib.scanKnn4!(nibbles.codes, structured, rowLabels, gone, rows + 1, query, query, 20, 10, Infinity),
      ).toThrow(RangeError);
      expect(() => new NibbleCodes(3)).toThrow(/even/);
    });

    it('is what Int8Scan searches from its threshold on, through growth and a save', async () => {
      const dir = await temporaryDirectory();
      try {
        const point = (row: number) => Array.from(queryOf(row), (c) => c / 100);
        const withPass = new Int8Scan(lib, d, 16, () => 100, 500);
        const without = new Int8Scan(lib, d, 16, () => 100, Infinity);
        let shared = 0;
        let compared = 0;
        for (let row = 0; row < rows; row += 1) {
          withPass.add(point(row), rowLabels[row] as number);
          without.add(point(row), rowLabels[row] as number);
          if (gone[row]) {
            withPass.markDelete(rowLabels[row] as number);
            without.markDelete(rowLabels[row] as number);
          }
          // Searched as it grows past the threshold and doubles (each doubling measures the steps anew).
          if (row % 97 !== 96 || row < 500) continue;
          const probe = point((row * 7) % (row + 1));
          const expected = without.search(probe, 10, Infinity).neighbors;
          const found = withPass.search(probe, 10, Infinity).neighbors;
          for (const label of found) expect(gone[(label - 1) / 2]).toBe(0);
          shared += found.filter((label) => expected.includes(label)).length;
          compared += expected.length;
        }
        expect(shared / compared).toBeGreaterThan(0.95);
        const path = join(dir.path, 'scan');
        await withPass.write(path);
        const back = new Int8Scan(lib, d, 16, () => 100, 500);
        await back.read(path);
        for (const row of [3, 400, 2999])
          expect(back.search(point(row), 10, Infinity)).toEqual(withPass.search(point(row), 10, Infinity));
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe('Int8Scan', () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    beforeEach(async () => {
      dir = await temporaryDirectory();
    });
    afterEach(async () => {
      await dir.cleanup();
    });
    const point = (row: number) => Array.from(rowCodes(row), (c) => c / 100);

    it('keeps its points, labels and deletions through a save, and refuses files it did not write', async () => {
      const scan = new Int8Scan(lib, dims, 4, () => 100);
      for (let row = 0; row < 50; row += 1) scan.add(point(row), labels[row] as number);
      expect(() => scan.add(point(0), labels[0] as number)).toThrow(/already held/);
      scan.markDelete(labels[3] as number);
      expect(() => scan.markDelete(labels[3] as number)).toThrow();
      expect(() => scan.markDelete(2)).toThrow();
      const probe = point(3);
      expect(scan.search(probe, 5, Infinity).neighbors).not.toContain(labels[3]);
      expect(scan.search(point(4), 1, Infinity).neighbors).toEqual([labels[4]]);

      const path = join(dir.path, 'scan');
      await scan.write(path);
      expect(await isScanFile(path)).toBe(true);
      const back = new Int8Scan(lib, dims, 16, () => 100);
      await back.read(path);
      expect(back.count).toBe(50);
      expect(back.ids()).toEqual(scan.ids());
      for (const row of [3, 4, 20, 49])
        expect(back.search(point(row), 5, 100)).toEqual(scan.search(point(row), 5, 100));
      expect(() => back.markDelete(labels[3] as number)).toThrow();

      await expect(new Int8Scan(lib, dims + 1, 16, () => 100).read(path)).rejects.toThrow(/dimensions/);
      const bytes = await readFile(path);
      await writeFile(path, bytes.subarray(0, bytes.length - 1));
      await expect(new Int8Scan(lib, dims, 16, () => 100).read(path)).rejects.toThrow(/bytes/);
      await writeFile(path, Buffer.alloc(bytes.length));
      expect(await isScanFile(path)).toBe(false);
      await expect(new Int8Scan(lib, dims, 16, () => 100).read(path)).rejects.toThrow(/not an int8 scan/);
    });
  });

  describe('a shard past its scan limit', () => {
    const d = 64;
    const embeddings = new LocalHashEmbeddings({ dimensions: d });
    const { texts } = chunkCorpus(generateCorpus({ chunks: 2000, seed: 5, chunksPerDocument: 8 }));
    const vectors = new Float32Array(texts.length * d);
    texts.forEach((text, i) => embeddings.embedInto(text, vectors, i * d));
    const all = Float64Array.from(texts.keys());
    const vectorOf = (label: number) => vectors.slice(label * d, (label + 1) * d);
    const queries = generateQuestions(30, 6).map((q) => {
      const v = new Float32Array(d);
      embeddings.embedInto(q, v, 0);
      return v;
    });
    const params: GraphParams = {
      dimensions: d,
      graphDimensions: 32,
      rerank: 50,
      m: 16,
      efConstruction: 64,
      efSearch: 100,
      codes: 'int8',
      scanLimit: 500,
    };
    const cosine = (q: Float32Array, label: number) => {
      const v = vectors.subarray(label * d, (label + 1) * d);
      return dotOf(q, v) / Math.sqrt(dotOf(q, q) * dotOf(v, v));
    };
    /** Share of the exact top 10 (among labels not in `gone`) that the shard finds. */
    const recall = (shard: GraphShard, gone: Set<number>) => {
      let found = 0;
      for (const q of queries) {
        const exact = new Set(
          [...all]
            .filter((label) => !gone.has(label))
            .sort((a, b) => cosine(q, b) - cosine(q, a))
            .slice(0, 10),
        );
        const hits = shard.search(q, 10, Infinity).labels;
        expect(hits.some((label) => gone.has(label))).toBe(false);
        found += hits.filter((label) => exact.has(label)).length;
      }
      return found / (queries.length * 10);
    };
    let dir: { path: string; cleanup: () => Promise<void> };
    beforeEach(async () => {
      dir = await temporaryDirectory();
    });
    afterEach(async () => {
      await dir.cleanup();
    });
    const save = (shard: GraphShard) => saveProjectedShard(shard, dir.path);

    it('builds a graph from its codes in steps, answering from the scan meanwhile, deletions kept', async () => {
      const shard = new GraphShard(params);
      shard.reset(400);
      shard.add(all, vectors, 0, 400);
      expect(shard.backlog).toBe(0);
      expect(await isScanFile((await save(shard)).graph.path)).toBe(true);
      const gone = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(shard.markDelete([...gone])).toBe(10);

      shard.add(all, vectors, 400, all.length);
      expect(shard.backlog).toBe(all.length);
      // Still the scan's answers: those of a shard that never outgrows its scan.
      const scanOnly = new GraphShard({ ...params, scanLimit: 5000 });
      scanOnly.add(all, vectors, 0, 400);
      scanOnly.markDelete([...gone]);
      scanOnly.add(all, vectors, 400, all.length);
      for (const q of queries)
        expect(shard.search(q, 10, Infinity)).toEqual(scanOnly.search(q, 10, Infinity));
      expect(recall(shard, gone)).toBeGreaterThan(0.9);
      expect(shard.catchUp(700)).toBe(all.length - 700);
      // Points the graph already took, and points it has yet to take.
      for (const label of [10, 11, 12, 1500, 1501]) gone.add(label);
      expect(shard.markDelete([5, 10, 11, 12, 1500, 1501])).toBe(5);
      while (shard.catchUp(700) > 0);
      expect(shard.backlog).toBe(0);

      expect(await isScanFile((await save(shard)).graph.path)).toBe(false);
      expect(shard.count).toBe(all.length);
      expect(recall(shard, gone)).toBeGreaterThan(0.9);
      expect(shard.search(vectorOf(1800), 1, Infinity).labels).toEqual([1800]);
      for (const label of [11, 1501])
        expect(shard.search(vectorOf(label), 5, Infinity).labels).not.toContain(label);
    });

    it('loads a scan saved below its limit and, past a lower limit, builds the graph from it', async () => {
      const shard = new GraphShard({ ...params, scanLimit: 5000 });
      shard.add(all, vectors);
      shard.markDelete([7]);
      const files = await save(shard);
      expect(await isScanFile(files.graph.path)).toBe(true);

      const same = new GraphShard({ ...params, scanLimit: 5000 });
      await same.load(files.graph, files.vectors);
      expect(same.backlog).toBe(0);
      for (const q of queries.slice(0, 5))
        expect(same.search(q, 10, Infinity)).toEqual(shard.search(q, 10, Infinity));

      const lower = new GraphShard(params);
      await lower.load(files.graph, files.vectors);
      expect(lower.backlog).toBe(all.length);
      while (lower.catchUp(1000) > 0);
      expect(recall(lower, new Set([7]))).toBeGreaterThan(0.9);
      expect(lower.search(vectorOf(7), 5, Infinity).labels).not.toContain(7);

      await expect(
        new GraphShard({ ...params, codes: 'float32' }).load(files.graph, files.vectors),
      ).rejects.toThrow(/int8 scan/);
    });
  });
});
