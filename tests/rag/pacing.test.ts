import { describe, expect, it } from 'vitest';
import { createPacer } from '../../src/rag/pacing.js';

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
