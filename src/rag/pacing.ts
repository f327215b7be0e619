/** Lets queued events (questions, heartbeats) run before the caller goes on. */
export const yieldToEventLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Time a long loop may hold the event loop between two yields, by default. */
export const DEFAULT_SLICE_MS = 15;

/** A loop's pace keeper: see {@link createPacer}. */
export interface Pacer {
  /**
   * Yields (returns a promise) when the current slice has run its time; otherwise returns nothing. Loops over every
   * chunk await only a returned promise (`const pause = pacer.tick(); if (pause) await pause;`): `await undefined`
   * still allocates a promise and waits a microtask turn, a million times in a million-chunk loop.
   */
  tick(): Promise<void> | undefined;
}

/**
 * A loop's pace keeper: `tick()` after each step yields to the event loop once the current slice has run for
 * `sliceMs`. Slicing by time rather than by a count of steps keeps every stall short whatever a step costs, on a
 * loaded machine as on an idle one, and costs one clock read per step.
 */
export function createPacer(sliceMs = DEFAULT_SLICE_MS, now: () => number = () => performance.now()): Pacer {
  let sliceStart = now();
  return {
    tick() {
      if (now() - sliceStart < sliceMs) return undefined;
      return yieldToEventLoop().then(() => {
        sliceStart = now();
      });
    },
  };
}

/**
 * The first index of `sorted` (in {@link sortPacedBy}'s order of `key`) whose key is above `target`, or at least
 * `target` when `orEqual`: a binary search.
 */
export function firstAbove<T>(
  sorted: readonly T[],
  key: (item: T) => string,
  target: string,
  orEqual: boolean,
): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const other = key(sorted[middle] as T);
    if (other < target || (!orEqual && other === target)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Whether `sorted` (in {@link sortPaced}'s order) holds `item`: a binary search, no Set built over the whole list. */
export function sortedIncludes(sorted: readonly string[], item: string): boolean {
  return sorted[firstAbove(sorted, (s) => s, item, true)] === item;
}

/** Items per run sorted in one go by {@link sortPacedBy}: 4,096 sort in about 1 ms. */
const SORT_RUN = 4096;

/**
 * `items` sorted as `Array.prototype.sort()` sorts strings (by UTF-16 code units), in runs of 4,096 merged pairwise,
 * with `pacer` ticked along: sorting the 125k paths of a large corpus in one call held the event loop 45 ms.
 */
export function sortPaced(items: readonly string[], pacer: Pacer): Promise<string[]> {
  return sortPacedBy(items, (item) => item, pacer);
}

/**
 * `items` sorted by `key` (compared by UTF-16 code units, ties kept in their order), paced as {@link sortPaced}. The
 * items themselves are sorted, with no map from key to item: building one for 125k documents held the event loop
 * 110-130 ms.
 */
export async function sortPacedBy<T>(
  items: readonly T[],
  key: (item: T) => string,
  pacer: Pacer,
): Promise<T[]> {
  const byKey = (a: T, b: T) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += SORT_RUN) {
    runs.push(items.slice(i, i + SORT_RUN).sort(byKey));
    const pause = pacer.tick();
    if (pause) await pause;
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r] as T[];
      const b = runs[r + 1];
      if (!b) {
        merged.push(a);
        continue;
      }
      const out = new Array<T>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        out[k++] = key(a[i] as T) <= key(b[j] as T) ? (a[i++] as T) : (b[j++] as T);
        if ((k & 1023) === 0) {
          const pause = pacer.tick();
          if (pause) await pause;
        }
      }
      while (i < a.length) out[k++] = a[i++] as T;
      while (j < b.length) out[k++] = b[j++] as T;
      merged.push(out);
      const pause = pacer.tick();
      if (pause) await pause;
    }
    runs = merged;
  }
  return runs[0] ?? [];
}
