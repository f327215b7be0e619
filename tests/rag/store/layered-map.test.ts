import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap, type ChangeEntries } from '../../../src/rag/store/layered-map.js';

type Change = { set: [number, string][]; remove: number[] };

const change = (keys: number): fc.Arbitrary<Change> =>
  fc.record({
    set: fc.array(fc.tuple(fc.integer({ min: 0, max: keys }), fc.string({ maxLength: 3 })), {
      maxLength: 40,
    }),
    remove: fc.array(fc.integer({ min: 0, max: keys }), { maxLength: 40 }),
  });

/** `entries` as a change that makes each entry only when it is read, and counts its readings. */
function lazy<K, V>(entries: readonly [K, V][]): ChangeEntries<K, V> & { readings: number; made: number } {
  return {
    size: entries.length,
    readings: 0,
    made: 0,
    *[Symbol.iterator]() {
      this.readings += 1;
      for (const [key, value] of entries) {
        this.made += 1;
        yield [key, value] as const;
      }
    },
  };
}

function applyToModel(model: Map<number, string>, { set, remove }: Change): Map<number, string> {
  const next = new Map(model);
  for (const key of remove) next.delete(key);
  for (const [key, value] of set) next.set(key, value);
  return next;
}

function expectSame(map: LayeredMap<number, string>, model: Map<number, string>, keys: number): void {
  expect(map.size).toBe(model.size);
  expect(new Map(map.entries())).toEqual(model);
  expect([...map.keys()].sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b));
  for (let key = 0; key <= keys; key += 1) {
    expect(map.get(key)).toBe(model.get(key));
    expect(map.has(key)).toBe(model.has(key));
  }
}

describe('LayeredMap', () => {
  it('behaves like a copied Map after any sequence of changes, and earlier versions never change', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2500 }),
        fc.array(change(2500), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        async (initial, changes, lazily) => {
          const start = new Map(Array.from({ length: initial }, (_, i) => [i, `v${i}`] as [number, string]));
          let map = LayeredMap.of(new Map(start));
          let model = start;
          const versions: [LayeredMap<number, string>, Map<number, string>][] = [[map, model]];
          for (const c of changes) {
            map = await map.derive(lazily ? lazy(c.set) : c.set, c.remove);
            model = applyToModel(model, c);
            versions.push([map, model]);
          }
          for (const [version, expected] of versions) expectSame(version, expected, 2500);
        },
      ),
      { seed: 20_261_128, numRuns: 25 },
    );
  });

  it('copies only its overlay for a small change, and folds a grown overlay into a new base', async () => {
    let map = LayeredMap.of(new Map(Array.from({ length: 32_000 }, (_, i) => [i, i] as [number, number])));
    map = await map.derive([[-1, -1]], [0, 1]);
    expect(map.overlaySize).toBe(3);
    for (let step = 0; step < 300; step += 1) {
      map = await map.derive(
        Array.from({ length: 8 }, (_, i) => [100_000 + step * 8 + i, step] as [number, number]),
        [2 + step],
      );
      // The overlay never grows past a sixteenth of the map.
      expect(map.overlaySize).toBeLessThanOrEqual(map.size / 16);
    }
    expect(map.size).toBe(32_000 + 1 - 2 + 300 * 8 - 300);
    expect(map.get(100_000 + 299 * 8)).toBe(299);
    expect(map.has(5)).toBe(false);
  });

  it('lets queued events run while it builds a large version', async () => {
    const map = LayeredMap.of(new Map<number, number>());
    let pauses = 0;
    const big = await map.derive(
      Array.from({ length: 5000 }, (_, i) => [i, i] as [number, number]),
      [],
      () => {
        pauses += 1;
        return undefined;
      },
    );
    expect(big.size).toBe(5000);
    expect(big.overlaySize).toBe(0);
    expect(pauses).toBe(5000);
  });

  it('reads a lazy change once, making its entries as it writes them, for a small and a large change', async () => {
    const base = LayeredMap.of(new Map(Array.from({ length: 8000 }, (_, i) => [i, i] as [number, number])));
    for (const count of [10, 5000]) {
      const entries = Array.from({ length: count }, (_, i) => [10_000 + i, -i] as [number, number]);
      const change = lazy(entries);
      const made: number[] = [];
      const next = await base.derive(change, [0], () => {
        made.push(change.made);
        return undefined;
      });
      expect(change.readings).toBe(1);
      expect(next.size).toBe(8000 - 1 + count);
      expect(next.get(10_000 + count - 1)).toBe(-(count - 1));
      expect(next.has(0)).toBe(false);
      // The pause after the k-th written entry sees k entries made: none was made ahead of its writing.
      expect(made.slice(-count)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    }
  });

  it('does not give up a microtask turn per entry when the pause has nothing to wait for', async () => {
    const map = LayeredMap.of(new Map<number, number>());
    let turns = 0;
    let building = true;
    const spin = () => {
      if (!building) return;
      turns += 1;
      queueMicrotask(spin);
    };
    queueMicrotask(spin);
    const big = await map.derive(
      Array.from({ length: 5000 }, (_, i) => [i, i] as [number, number]),
      [],
      () => undefined,
    );
    building = false;
    expect(big.size).toBe(5000);
    expect(turns).toBeLessThan(10);
  });
});
