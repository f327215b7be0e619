/**
 * Characters per batch: 8 MB strings, above the size from which Node keeps a string outside the heap. Packing a batch
 * holds the event loop while it copies: 44-45 ms for 16M characters, 16 ms for 4M.
 */
const BATCH_CHARS = 1 << 22;

/**
 * Node makes a string from a buffer outside V8's heap from about a million characters (`EXTERN_APEX` in its
 * sources); a smaller batch would be copied into the heap, so it is left as it is.
 */
const MIN_BATCH_CHARS = 1 << 20;

/** Below V8's longest string (2^29 - 24 characters): a batch of one enormous text is left in the heap. */
const MAX_BATCH_CHARS = 1 << 28;

/**
 * Collects items and moves their texts out of V8's heap, a batch at a time: the texts of a batch are written into one
 * buffer, which Node turns into one external string, and each item's `text` becomes a slice of it (the same
 * characters; V8 keeps a slice as a reference and two offsets).
 *
 * Why: at 1M chunks the articles' texts were 440 MB of a 850 MB heap, and each young-generation collection walks
 * every page of the old generation; on a 2-core machine those collections took 15-20 ms while questions were being
 * answered, and 100-200 ms while the graph workers were building. A slice keeps its whole batch alive, so the text of
 * a removed article is freed only with the last article of its batch.
 */
export class OffHeapTexts<T extends { text: string }> {
  private readonly items: T[] = [];
  private batchStart = 0;
  private batchChars = 0;
  private buffer: Buffer | undefined;

  constructor(private readonly batchSize = BATCH_CHARS) {}

  add(item: T): void {
    this.items.push(item);
    this.batchChars += item.text.length;
    if (this.batchChars >= this.batchSize) this.pack();
  }

  /** The items added, their texts moved (those of a last batch too small to move are left in the heap). */
  finish(): T[] {
    this.pack();
    this.buffer = undefined;
    return this.items;
  }

  private pack(): void {
    const { items, batchStart, batchChars } = this;
    this.batchStart = items.length;
    this.batchChars = 0;
    if (batchChars < MIN_BATCH_CHARS || batchChars > MAX_BATCH_CHARS) return;
    if (!this.buffer || this.buffer.length < batchChars * 2)
      this.buffer = Buffer.allocUnsafeSlow(Math.max(batchChars, this.batchSize) * 2);
    const buffer = this.buffer;
    let at = 0;
    for (let i = batchStart; i < items.length; i += 1) {
      const text = (items[i] as T).text;
      buffer.write(text, at * 2, 'utf16le');
      at += text.length;
    }
    const joined = buffer.toString('utf16le', 0, at * 2);
    at = 0;
    for (let i = batchStart; i < items.length; i += 1) {
      const item = items[i] as T;
      const length = item.text.length;
      item.text = joined.slice(at, at + length);
      at += length;
    }
  }
}
