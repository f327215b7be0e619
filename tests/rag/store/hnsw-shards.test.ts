import { describe, expect, it } from 'vitest';
import { ShardedIndex } from '../../../src/rag/store/hnsw-shards.js';

const DIMENSIONS = 16;

/** Deterministic points in general position: no two share a vector. */
function points(count: number) {
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: count }, (_, label) => ({
    label,
    vector: Float32Array.from({ length: DIMENSIONS }, next),
  }));
}

describe('ShardedIndex', () => {
  it('indexes every point of several batches per worker graph, each found by its own vector', async () => {
    // More than two batches of 2,048 points per graph, the last one partial.
    const all = points(2 * 2048 * 2 + 301);
    const index = ShardedIndex.create(
      { dimensions: DIMENSIONS, m: 16, efConstruction: 100, efSearch: 200 },
      { threads: 2 },
    );
    try {
      await index.reset(all.length);
      await index.add(all);
      expect((await index.ids()).sort((a, b) => a - b)).toEqual(all.map((p) => p.label));
      const probes = all.filter((p) => p.label % 97 === 0 || p.label >= all.length - 3);
      for (const p of probes) {
        const hits = await index.search(p.vector, 1);
        expect(hits.labels[0]).toBe(p.label);
        expect(hits.distances[0]).toBeCloseTo(0, 5);
      }
    } finally {
      await index.close();
    }
  });
});
