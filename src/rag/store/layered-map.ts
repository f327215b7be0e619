import { ShardedMap, ShardedSet, type ShardKey } from '../sharded-map.js';

const REMOVED = Symbol('removed');

/**
 * The entries a change writes: an array, or an iterable that says its size up front and may build each entry as it is
 * read (read once). A lazy one keeps a large change from holding an `[key, value]` array per entry until the map is
 * built: at a million chunks those arrays survived into the old generation and lengthened every young collection.
 */
export type ChangeEntries<K, V> =
  readonly (readonly [K, V])[] | (Iterable<readonly [K, V]> & { readonly size: number });

/** Overlays below this size are never folded: copying them costs less than a new base. */
const MIN_OVERLAY = 1024;

/**
 * An immutable map that a change derives a new version of in time proportional to the change, not to the map: a
 * shared base that is never written again, plus an overlay of the entries set or removed since. Queries hold one
 * version while the next is built.
 */
export class LayeredMap<K extends ShardKey, V> {
  private constructor(
    private readonly base: ShardedMap<K, V>,
    private readonly overlay: ReadonlyMap<K, V | typeof REMOVED>,
    readonly size: number,
  ) {}

  /** A first version holding `entries` (a sharded map is taken as the base, not copied: it must not change after). */
  static of<K extends ShardKey, V>(
    entries: ShardedMap<K, V> | Iterable<readonly [K, V]> = [],
  ): LayeredMap<K, V> {
    const base = entries instanceof ShardedMap ? entries : new ShardedMap(entries);
    return new LayeredMap(base, new Map(), base.size);
  }

  get(key: K): V | undefined {
    const over = this.overlay.get(key);
    if (over === REMOVED) return undefined;
    return over !== undefined ? over : this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * A new version with the `remove` keys removed, then the `set` entries written; this version is unchanged. A small
   * change copies only the overlay; a change larger than a quarter of the map, or an overlay grown past a sixteenth
   * of it, builds a new base instead. `pause` runs after each entry copied or written, so a large change can yield;
   * it is awaited only when it returns a promise (awaiting `undefined` costs a microtask turn per entry).
   */
  async derive(
    set: ChangeEntries<K, V>,
    remove: readonly K[],
    pause: () => Promise<void> | undefined = () => undefined,
  ): Promise<LayeredMap<K, V>> {
    const setCount = 'length' in set ? set.length : set.size;
    if (setCount + remove.length > Math.max(MIN_OVERLAY, this.size / 4)) {
      const removed = new ShardedSet<K>();
      for (const key of remove) {
        removed.add(key);
        const due = pause();
        if (due) await due;
      }
      const base = new ShardedMap<K, V>();
      for (const [key, value] of this.entries()) {
        if (!removed.has(key)) base.set(key, value);
        const due = pause();
        if (due) await due;
      }
      for (const [key, value] of set) {
        base.set(key, value);
        const due = pause();
        if (due) await due;
      }
      return LayeredMap.of(base);
    }
    const overlay = new Map(this.overlay);
    let size = this.size;
    const present = (key: K) => {
      const over = overlay.get(key);
      return over !== undefined ? over !== REMOVED : this.base.has(key);
    };
    for (const key of remove) {
      if (!present(key)) continue;
      size -= 1;
      if (this.base.has(key)) overlay.set(key, REMOVED);
      else overlay.delete(key);
    }
    for (const [key, value] of set) {
      if (!present(key)) size += 1;
      overlay.set(key, value);
      const due = pause();
      if (due) await due;
    }
    const next = new LayeredMap(this.base, overlay, size);
    return overlay.size > Math.max(MIN_OVERLAY, size / 16) ? next.flatten(pause) : next;
  }

  /** Entries in the overlay: what the next version copies. */
  get overlaySize(): number {
    return this.overlay.size;
  }

  private async flatten(pause: () => Promise<void> | undefined): Promise<LayeredMap<K, V>> {
    const base = new ShardedMap<K, V>();
    for (const [key, value] of this.entries()) {
      base.set(key, value);
      const due = pause();
      if (due) await due;
    }
    return LayeredMap.of(base);
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [key, value] of this.base) if (!this.overlay.has(key)) yield [key, value];
    for (const [key, value] of this.overlay) if (value !== REMOVED) yield [key, value];
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key;
  }
}
