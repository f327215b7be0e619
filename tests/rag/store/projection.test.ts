import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRandom, generateCorpus, generateQuestions } from '../../../src/cli/bench-corpus.js';
import { chunkCorpus } from '../../../src/cli/bench-task.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { CorruptGraphError, GraphShard, type GraphCodes } from '../../../src/rag/store/hnsw-shard.js';
import { loadHnswlib } from '../../../src/rag/store/hnswlib.js';
import { ProjectionKernel } from '../../../src/rag/store/projection-kernel.js';
import {
  FullVectors,
  parseProjected,
  Projection,
  serializeProjected,
  writeUnit,
} from '../../../src/rag/store/projection.js';
import { temporaryDirectory } from '../../helpers/documents.js';
import { saveProjectedShard } from '../../helpers/graph-files.js';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += (a[i] as number) * (b[i] as number);
  return sum;
};

/** `count` orthonormal vectors of `dims` values (Gram-Schmidt on seeded random vectors). */
function orthonormal(count: number, dims: number, random: () => number): Float64Array[] {
  const basis: Float64Array[] = [];
  while (basis.length < count) {
    const v = Float64Array.from({ length: dims }, () => random() - 0.5);
    for (const b of basis) {
      const p = dot(v, b);
      for (let i = 0; i < dims; i += 1) v[i]! -= p * (b[i] as number);
    }
    const norm = Math.sqrt(dot(v, v));
    basis.push(v.map((x) => x / norm));
  }
  return basis;
}

describe('Projection', () => {
  it('keeps the inner products of vectors that lie in as many principal directions as it keeps', () => {
    const random = createRandom(11);
    const from = 24;
    const basis = orthonormal(3, from, random);
    // Variance is largest along basis[0] and smallest along basis[2]; a fit that kept the smallest eigenvalues of
    // the 24 (all zero but three) would lose them.
    const rows = 300;
    const vectors = new Float32Array(rows * from);
    for (let r = 0; r < rows; r += 1) {
      const weights = [3 * (random() - 0.5), 2 * (random() - 0.5), random() - 0.5];
      for (let i = 0; i < from; i += 1)
        vectors[r * from + i] = weights.reduce((sum, w, b) => sum + w * (basis[b]![i] as number), 0);
    }
    const projection = Projection.fit(vectors, from, 3);
    for (let a = 0; a < 20; a += 1) {
      const b = a + 20;
      const exact = dot(
        vectors.subarray(a * from, (a + 1) * from),
        vectors.subarray(b * from, (b + 1) * from),
      );
      const projected = dot(projection.apply(vectors, a * from), projection.apply(vectors, b * from));
      expect(projected).toBeCloseTo(exact, 4);
    }
    const first = projection.components.subarray(0, from);
    expect(Math.abs(dot(first, basis[0]!))).toBeCloseTo(1, 4);
  });

  it('computes the matrix product, in WebAssembly and in the plain loop it falls back to', () => {
    const random = createRandom(5);
    for (const from of [20, 18]) {
      const to = 11;
      const components = Float32Array.from({ length: from * to }, () => random() - 0.5);
      const source = Float32Array.from({ length: 2 * from }, () => random() - 0.5);
      const expected = Array.from({ length: to }, (_, j) =>
        dot(components.subarray(j * from, (j + 1) * from), source.subarray(from, 2 * from)),
      );
      // The kernel takes four floats at a time: 20 dimensions run in WebAssembly, 18 in the loop.
      expect(ProjectionKernel.create(components, from, to) !== undefined).toBe(from % 4 === 0);
      const projection = Projection.of(from, to, components);
      for (const projected of [projection.apply(source, from), projection.applyInJs(source, from)]) {
        expect(projected).toHaveLength(to);
        projected.forEach((value, j) => expect(value).toBeCloseTo(expected[j] as number, 5));
      }
    }
  });

  it("records 127 over its sample's largest projected magnitude as the int8 scale, kept by its file", () => {
    const random = createRandom(5);
    const from = 16;
    const rows = 64;
    const vectors = Float32Array.from({ length: rows * from }, () => random() - 0.5);
    const projection = Projection.fit(vectors, from, 4);
    let largest = 0;
    for (let r = 0; r < rows; r += 1) {
      const unit = new Float32Array(from);
      writeUnit(vectors, r * from, from, unit);
      for (const value of projection.applyInJs(unit)) largest = Math.max(largest, Math.abs(value));
    }
    expect(projection.scale).toBeCloseTo(127 / largest, 3);
    const file = Buffer.concat(serializeProjected(projection, new FullVectors(from, 0)));
    expect(parseProjected(file, from, 4).projection.scale).toBe(projection.scale);
    expect(Projection.fit(new Float32Array(rows * from), from, 4).scale).toBe(127);
    expect(() => Projection.of(4, 2, new Float32Array(8), Number.NaN)).toThrow(RangeError);
  });

  it('refuses to project onto more dimensions than it has, or components of the wrong size', () => {
    expect(() => Projection.fit(new Float32Array(16), 4, 5)).toThrow(RangeError);
    expect(() => Projection.of(4, 2, new Float32Array(7))).toThrow(RangeError);
  });
});

describe('projected vectors file', () => {
  const projection = Projection.of(4, 2, Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0]));
  const full = () => {
    const vectors = new FullVectors(4, 1);
    vectors.add(7, [3, 0, 4, 0], 0);
    vectors.add(9, [0, 2, 0, 0], 0);
    return vectors;
  };
  const fileOf = (parts: Uint8Array[]) => Buffer.concat(parts);

  it('reads back the projection and the unit vectors by label, and takes more vectors after', () => {
    const { projection: read, full: vectors } = parseProjected(
      fileOf(serializeProjected(projection, full())),
      4,
      2,
    );
    expect(Array.from(read.components)).toEqual(Array.from(projection.components));
    expect(vectors.count).toBe(2);
    expect(vectors.similarity(7, Float32Array.from([0.6, 0, 0.8, 0]))).toBeCloseTo(1, 6);
    expect(vectors.similarity(9, Float32Array.from([0, 1, 0, 0]))).toBeCloseTo(1, 6);
    vectors.add(11, [0, 0, 0, 5], 0);
    expect(vectors.similarity(11, Float32Array.from([0, 0, 0, 1]))).toBeCloseTo(1, 6);
    expect(vectors.similarity(7, Float32Array.from([0, 0, 0, 1]))).toBeCloseTo(0, 6);
    const again = parseProjected(fileOf(serializeProjected(read, vectors)), 4, 2).full;
    expect(again.count).toBe(3);
    expect(again.similarity(11, Float32Array.from([0, 0, 0, 1]))).toBeCloseTo(1, 6);
  });

  it("computes many labels' similarities at once, natively as in JavaScript, loaded and added vectors alike", () => {
    const random = createRandom(5);
    const d = 37;
    const loaded = Float32Array.from({ length: 40 * d }, () => random() - 0.5);
    const vectors = FullVectors.of(
      d,
      Float64Array.from({ length: 40 }, (_, i) => i * 2),
      loaded,
    );
    for (let i = 0; i < 25; i += 1)
      vectors.add(
        1000 + i,
        Array.from({ length: d }, () => random() - 0.5),
        0,
      );
    const query = Float32Array.from({ length: d }, () => random() - 0.5);
    const labels = [1004, 6, 3, 78, 1024, 0, 1000, 5000];
    const plain = vectors.similarities(labels, query);
    expect(Array.from(plain)).toEqual(labels.map((label) => vectors.similarity(label, query)));
    expect(plain[2]).toBe(-Infinity);
    expect(plain[7]).toBe(-Infinity);
    const dotRows = loadHnswlib().int8?.dotRows;
    if (!dotRows) return;
    const native = vectors.similarities(labels, query, dotRows);
    native.forEach((value, i) => expect(value).toBeCloseTo(plain[i] as number, 12));
    expect(native[2]).toBe(-Infinity);
    const out = new Float64Array(2);
    expect(() => dotRows(loaded, Int32Array.of(40), query, out)).toThrow(RangeError);
    expect(() => dotRows(loaded, Int32Array.of(0, 1, 2), query, out)).toThrow(RangeError);
    expect(() => dotRows(loaded, Int32Array.of(0), new Float32Array(0), out)).toThrow(RangeError);
    expect(() =>
      dotRows(loaded, Int32Array.of(0), query, new Float32Array(1) as unknown as Float64Array),
    ).toThrow(TypeError);
  });

  it('rejects a file for other dimensions, a truncated file and one that is not a vectors file', () => {
    const bytes = fileOf(serializeProjected(projection, full()));
    expect(() => parseProjected(bytes, 8, 2)).toThrow(/4 → 2|8 → 2/);
    expect(() => parseProjected(bytes.subarray(0, bytes.length - 4), 4, 2)).toThrow(RangeError);
    expect(() => parseProjected(Buffer.from('not vectors at all, not at all, no'), 4, 2)).toThrow(RangeError);
  });
});

/** int8 graphs need the addon made at install for the SIMD level this CPU runs (linux-x64). */
const codes: GraphCodes[] = loadHnswlib().int8 ? ['float32', 'int8'] : ['float32'];

describe.each(codes)('a graph on projected vectors, stored as %s', (graphCodes) => {
  const dims = 64;
  const embeddings = new LocalHashEmbeddings({ dimensions: dims });
  const { texts } = chunkCorpus(generateCorpus({ chunks: 3000, seed: 3, chunksPerDocument: 8 }));
  const vectors = new Float32Array(texts.length * dims);
  texts.forEach((text, i) => embeddings.embedInto(text, vectors, i * dims));
  const labels = Float64Array.from(texts.keys());
  const queries = generateQuestions(40, 4).map((q) => {
    const v = new Float32Array(dims);
    embeddings.embedInto(q, v, 0);
    return v;
  });
  const cosine = (q: Float32Array, label: number) => {
    const v = vectors.subarray(label * dims, (label + 1) * dims);
    return dot(q, v) / Math.sqrt(dot(q, q) * dot(v, v));
  };
  const exactTop10 = (q: Float32Array) =>
    [...labels]
      .map((label) => ({ label, similarity: cosine(q, label) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, 10)
      .map((h) => h.label);
  const params = {
    dimensions: dims,
    graphDimensions: 32,
    rerank: 50,
    m: 16,
    efConstruction: 64,
    efSearch: 100,
    codes: graphCodes,
  };
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await temporaryDirectory();
  });
  afterEach(async () => {
    await dir.cleanup();
  });
  /** A shard of the first `count` points, saved as index-0.hnsw and index-0.vectors with their checksums. */
  const savedShard = async (count: number) => {
    const shard = new GraphShard(params);
    shard.reset(labels.length);
    shard.add(labels, vectors, 0, count);
    return { shard, ...(await saveProjectedShard(shard, dir.path)) };
  };

  it('returns the exact cosine distances of its candidates, nearest first, and most of the exact top 10', () => {
    const shard = new GraphShard(params);
    expect(shard.projected).toBe(true);
    shard.reset(labels.length);
    shard.add(labels, vectors);
    let found = 0;
    for (const q of queries) {
      const hits = shard.search(q, 10, Infinity);
      expect(hits.labels).toHaveLength(10);
      hits.labels.forEach((label, i) => expect(hits.distances[i]).toBeCloseTo(1 - cosine(q, label), 5));
      expect(hits.distances).toEqual([...hits.distances].sort((a, b) => a - b));
      const exact = new Set(exactTop10(q));
      found += hits.labels.filter((label) => exact.has(label)).length;
    }
    // Half the dimensions, as the defaults keep of 256: re-ranking 50 candidates recovers most of the exact top 10.
    expect(found / (queries.length * 10)).toBeGreaterThan(0.9);
  });

  it('saves and loads its projection and vectors with its graph, and takes new points after loading', async () => {
    const { shard, graph, vectors: vectorsFile } = await savedShard(2000);
    const loaded = new GraphShard(params);
    await loaded.load(graph, vectorsFile);
    for (const q of queries.slice(0, 10))
      expect(loaded.search(q, 10, Infinity)).toEqual(shard.search(q, 10, Infinity));

    loaded.add(labels, vectors, 2000, labels.length);
    const probe = vectors.slice(2500 * dims, 2501 * dims);
    const hits = loaded.search(probe, 1, Infinity);
    expect(hits.labels).toEqual([2500]);
    expect(hits.distances[0]).toBeCloseTo(0, 5);
    expect(loaded.search(probe, 5, 2500).labels).not.toContain(2500);
  });

  it('refuses to load a graph without its vectors file, or with a damaged one', async () => {
    const { graph, vectors: vectorsFile } = await savedShard(100);
    await expect(new GraphShard(params).load(graph)).rejects.toThrow(/no vectors file/);
    const bytes = await readFile(vectorsFile.path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    await writeFile(vectorsFile.path, bytes);
    await expect(new GraphShard(params).load(graph, vectorsFile)).rejects.toThrow(/checksum/);
  });

  it.runIf(graphCodes === 'float32' && codes.includes('int8'))(
    'is refused by a shard that stores int8 codes (the store rebuilds such graphs)',
    async () => {
      const { graph, vectors: vectorsFile } = await savedShard(200);
      await expect(new GraphShard({ ...params, codes: 'int8' }).load(graph, vectorsFile)).rejects.toThrow(
        CorruptGraphError,
      );
    },
  );
});
