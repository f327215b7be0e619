import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createPacer,
  sortedIncludes,
  sortPaced,
  sortPacedBy,
  yieldToEventLoop,
} from '../../src/rag/pacing.js';
import { createRandom } from '../../src/cli/bench-corpus.js';
import { countTurns } from '../helpers/event-loop.js';

describe('createPacer', () => {
  it('lets queued events run once a slice is spent, and starts a new slice after', async () => {
    let clock = 0;
    const pacer = createPacer(15, () => clock);
    let ran = 0;
    setImmediate(() => (ran += 1));
    clock = 14;
    expect(pacer.tick()).toBeUndefined();
    expect(ran).toBe(0);
    clock = 15;
    await pacer.tick();
    expect(ran).toBe(1);
    clock = 29;
    expect(pacer.tick()).toBeUndefined();
    clock = 30;
    expect(pacer.tick()).toBeInstanceOf(Promise);
  });

  it('yields within a loop as often as its steps spend the slice', async () => {
    let clock = 0;
    const pacer = createPacer(10, () => clock);
    const seenAt: number[] = [];
    let step = 0;
    let done = false;
    const watch = () => {
      seenAt.push(step);
      if (!done) setImmediate(watch);
    };
    setImmediate(watch);
    for (; step < 100; step += 1) {
      clock += 3;
      await pacer.tick();
    }
    done = true;
    // 300 ms of steps in 10 ms slices: the watcher ran once per yield, every 4 steps.
    expect(seenAt.slice(0, 5)).toEqual([3, 7, 11, 15, 19]);
  });
});

/** A pacer that yields at every tick. */
const yieldingPacer = { tick: () => yieldToEventLoop() };

describe('sortPaced', () => {
  it('sorts as Array.prototype.sort does, across run boundaries, and lets events run while it sorts', async () => {
    const random = createRandom(9);
    const alphabet = ['a', 'b', 'é', 'É', 'z', '/', '-', '0', '𝔘', 'œ'];
    const word = () =>
      Array.from(
        { length: 1 + Math.floor(random() * 6) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
    for (const size of [0, 1, 4095, 4096, 4097, 10_000]) {
      const items = Array.from({ length: size }, word);
      expect(await sortPaced(items, createPacer())).toEqual([...items].sort());
    }
    // A pacer that yields at every tick: the events queued meanwhile run between the sort's steps.
    const { turns } = await countTurns(() => sortPaced(Array.from({ length: 10_000 }, word), yieldingPacer));
    expect(turns).toBeGreaterThan(3);
  });
});

describe('sortedIncludes', () => {
  it('finds exactly the items of a list sorted as sortPaced sorts, surrogate pairs and accents included', () => {
    const letter = fc.constantFrom('a', 'b', 'é', 'É', 'z', '/', '0', '𝔘', 'œ', '\uFFFD');
    const word = fc.array(letter, { maxLength: 4 }).map((letters) => letters.join(''));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 40 }), fc.array(word, { maxLength: 10 }), (items, probes) => {
        const sorted = [...items].sort();
        for (const probe of [...items, ...probes])
          expect(sortedIncludes(sorted, probe)).toBe(items.includes(probe));
      }),
    );
  });
});

describe('sortPacedBy', () => {
  it('sorts items by a key as a stable sort does, ties in their order, and lets events run while it sorts', async () => {
    const random = createRandom(11);
    const items = Array.from({ length: 9000 }, (_, position) => ({
      id: `doc-${Math.floor(random() * 3000)}`,
      position,
    }));
    const expected = [...items].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : a.position - b.position,
    );
    const { result, turns } = await countTurns(() => sortPacedBy(items, (item) => item.id, yieldingPacer));
    expect(result).toEqual(expected);
    expect(turns).toBeGreaterThan(3);
  });
});
