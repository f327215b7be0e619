import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShardedMap, ShardedSet } from '../../src/rag/sharded-map.js';

type Operation<K> = { kind: 'set'; key: K; value: number } | { kind: 'delete'; key: K };

const operations = <K>(key: fc.Arbitrary<K>): fc.Arbitrary<Operation<K>[]> =>
  fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), key }),
    ),
    { maxLength: 300 },
  );

function expectLikeMap<K extends number | string>(ops: Operation<K>[], probes: readonly K[]): void {
  const sharded = new ShardedMap<K, number>();
  const set = new ShardedSet<K>();
  const model = new Map<K, number>();
  for (const op of ops) {
    if (op.kind === 'set') {
      sharded.set(op.key, op.value);
      set.add(op.key);
      model.set(op.key, op.value);
    } else {
      expect(sharded.delete(op.key)).toBe(model.delete(op.key));
      set.delete(op.key);
    }
  }
  expect(sharded.size).toBe(model.size);
  expect(set.size).toBe(model.size);
  expect(new Map(sharded)).toEqual(model);
  expect(new Set(set)).toEqual(new Set(model.keys()));
  expect(new Set(sharded.keys())).toEqual(new Set(model.keys()));
  expect([...sharded.values()].sort()).toEqual([...model.values()].sort());
  for (const key of probes) {
    expect(sharded.get(key)).toBe(model.get(key));
    expect(sharded.has(key)).toBe(model.has(key));
    expect(set.has(key)).toBe(model.has(key));
  }
}

describe('ShardedMap and ShardedSet', () => {
  it('behave like a Map and a Set over integer keys', () => {
    const key = fc.integer({ min: -5, max: 200 });
    fc.assert(
      fc.property(operations(key), (ops) =>
        expectLikeMap(
          ops,
          Array.from({ length: 206 }, (_, i) => i - 5),
        ),
      ),
      { seed: 20_261_129, numRuns: 100 },
    );
  });

  it('behave like a Map and a Set over string keys, ids and hashes alike', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.integer({ min: 0, max: 50 }).map((n) => `article-${n}#${n % 7}`),
    );
    fc.assert(
      fc.property(operations(key), fc.array(key, { maxLength: 50 }), (ops, probes) =>
        expectLikeMap(ops, [...probes, ...ops.map((op) => op.key)]),
      ),
      { seed: 20_261_129, numRuns: 100 },
    );
  });

  it('keeps every entry of a large map, spread over its shards', () => {
    const map = new ShardedMap<number, number>(
      Array.from({ length: 100_000 }, (_, i) => [i * 3, i] as const),
    );
    expect(map.size).toBe(100_000);
    expect(map.get(299_997)).toBe(99_999);
    expect(map.has(1)).toBe(false);
    expect([...map.keys()].length).toBe(100_000);
  });
});
