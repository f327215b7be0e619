import { yieldToEventLoop, type Pacer } from '../pacing.js';
import { analyze } from '../text/tokenize.js';

/** A BM25 hit: the chunk label and its score. */
export interface LexicalHit {
  label: number;
  score: number;
}

/**
 * BM25's best `k` slots computed natively (the int8 addon's `bm25TopK`, `native/bm25.cc`), with the same sums in the
 * same order as {@link LexicalIndex.query}'s own loop, so the same hits and scores. List `l` is `slots[l]` and `tfs[l]`
 * up to `lengths[l]`, weighted by `weights[l]`; slots not marked 1 in `alive` are skipped. Returns labels and scores,
 * best first (a higher score, then a lower label), ignoring visibility.
 */
export type Bm25Kernel = (
  slots: Int32Array[],
  tfs: Uint16Array[],
  lengths: Int32Array,
  weights: Float64Array,
  norms: Float32Array,
  alive: Uint8Array,
  labels: Int32Array,
  slotCount: number,
  block: number,
  k: number,
) => { labels: number[]; scores: number[] };

/** How a {@link LexicalIndex} scores. */
export interface LexicalOptions {
  /**
   * Slots scored together: every list of a query is scored over one block of slots before the next, so the block's
   * scores, norms and liveness stay in the CPU's cache (at 1M chunks they are 9 MB).
   */
  scoreBlock?: number;
  /** Native scoring; without it, the JavaScript loop. */
  kernel?: Bm25Kernel | undefined;
}

const K1 = 1.2;
const B = 0.75;

const NO_SLOTS = new Int32Array(0);
const NO_TFS = new Uint16Array(0);

/**
 * The chunks that contain a term, with the term's frequency in each, in two parts: the entries loaded from disk
 * (views into the loaded file, never reallocated, so the first insertion after a load does not copy a list of a
 * million entries) and the entries added since (grown by doubling).
 */
class Postings {
  loadedSlots = NO_SLOTS;
  loadedTfs = NO_TFS;
  loadedLength = 0;
  slots = NO_SLOTS;
  tfs = NO_TFS;
  length = 0;

  get count(): number {
    return this.loadedLength + this.length;
  }

  push(slot: number, tf: number): void {
    if (this.length === this.slots.length) {
      const capacity = Math.max(4, this.length * 2);
      const slots = new Int32Array(capacity);
      slots.set(this.slots);
      this.slots = slots;
      const tfs = new Uint16Array(capacity);
      tfs.set(this.tfs);
      this.tfs = tfs;
    }
    this.slots[this.length] = slot;
    this.tfs[this.length] = Math.min(tf, 65_535);
    this.length += 1;
  }

  /** Drops the entries of slots `alive` no longer marks, in place; returns how many were dropped. */
  compact(alive: Uint8Array): number {
    const before = this.count;
    this.loadedLength = keepAlive(this.loadedSlots, this.loadedTfs, this.loadedLength, alive);
    this.length = keepAlive(this.slots, this.tfs, this.length, alive);
    return before - this.count;
  }
}

function keepAlive(slots: Int32Array, tfs: Uint16Array, length: number, alive: Uint8Array): number {
  let kept = 0;
  for (let i = 0; i < length; i += 1) {
    const slot = slots[i] as number;
    if (alive[slot] !== 1) continue;
    slots[kept] = slot;
    tfs[kept] = tfs[i] as number;
    kept += 1;
  }
  return kept;
}

/** Whether two lists hold the same entries in the same parts (compared as bytes, at memory speed). */
function samePostings(a: Postings, b: Postings): boolean {
  if (a === b) return true;
  if (a.loadedLength !== b.loadedLength || a.length !== b.length) return false;
  const bytes = (array: Int32Array | Uint16Array, length: number) =>
    Buffer.from(array.buffer, array.byteOffset, length * array.BYTES_PER_ELEMENT);
  return (
    bytes(a.loadedSlots, a.loadedLength).equals(bytes(b.loadedSlots, b.loadedLength)) &&
    bytes(a.slots, a.length).equals(bytes(b.slots, b.length)) &&
    bytes(a.loadedTfs, a.loadedLength).equals(bytes(b.loadedTfs, b.loadedLength)) &&
    bytes(a.tfs, a.length).equals(bytes(b.tfs, b.length))
  );
}

function grow<T extends Int32Array | Float32Array | Uint8Array>(
  array: T,
  needed: number,
  make: (n: number) => T,
): T {
  if (needed <= array.length) return array;
  const bigger = make(Math.max(needed, array.length * 2));
  bigger.set(array);
  return bigger;
}

/** Bytes per slice that {@link LexicalIndex.writeTo} hands to its sink. */
const WRITE_SLICE_BYTES = 1 << 20;

/** Entries {@link LexicalIndex.writeTo} copies between two looks at its pacer; divides every slice's length. */
const PACE_ENTRIES = 4096;

/** Entries per block of {@link AddedTerms}: 4 MB, filled once and never copied. */
const TERM_BLOCK = 1 << 20;

/**
 * The term ids of the slots added since the load, packed into fixed-size blocks. One Int32Array per chunk (a
 * million at 1M chunks) is a million array buffers for every full collection to trace: pauses of 45-80 ms with a
 * heap of only 150 MB. One growing array must be copied whole when it doubles: 0.7 s at 50M entries. Blocks are
 * appended instead; the space of removed slots is reclaimed by {@link compact}.
 */
class AddedTerms {
  private blocks: Int32Array[] = [];
  private used = 0;
  private blockOf = new Int32Array(64);
  private offsetOf = new Int32Array(64);
  /** Number of ids of each slot: 0 for a slot with none here (loaded, removed or never added). */
  private countOf = new Int32Array(64);

  /** `first`: the first slot that can be added (those below were loaded), so the arrays hold added slots only. */
  constructor(private readonly first = 0) {}

  set(added: number, ids: Int32Array): void {
    const slot = added - this.first;
    let block = this.blocks[this.blocks.length - 1];
    if (!block || this.used + ids.length > block.length) {
      block = new Int32Array(Math.max(TERM_BLOCK, ids.length));
      this.blocks.push(block);
      this.used = 0;
    }
    block.set(ids, this.used);
    this.blockOf = grow(this.blockOf, slot + 1, (n) => new Int32Array(n));
    this.offsetOf = grow(this.offsetOf, slot + 1, (n) => new Int32Array(n));
    this.countOf = grow(this.countOf, slot + 1, (n) => new Int32Array(n));
    this.blockOf[slot] = this.blocks.length - 1;
    this.offsetOf[slot] = this.used;
    this.countOf[slot] = ids.length;
    this.used += ids.length;
  }

  /** One step per array, each making room for the slots below `slots` (see {@link LexicalIndex.reserve}). */
  reserveSteps(slots: number): (() => void)[] {
    const needed = slots - this.first;
    return [
      () => (this.blockOf = grow(this.blockOf, needed, (n) => new Int32Array(n))),
      () => (this.offsetOf = grow(this.offsetOf, needed, (n) => new Int32Array(n))),
      () => (this.countOf = grow(this.countOf, needed, (n) => new Int32Array(n))),
    ];
  }

  /** The ids of `slot` (a view, valid until the next {@link compact}), empty when it has none. */
  get(added: number): Int32Array {
    const slot = added - this.first;
    const count = slot < 0 ? 0 : (this.countOf[slot] ?? 0);
    if (count === 0) return NO_SLOTS;
    const offset = this.offsetOf[slot] as number;
    return (this.blocks[this.blockOf[slot] as number] as Int32Array).subarray(offset, offset + count);
  }

  delete(added: number): void {
    const slot = added - this.first;
    if (slot >= 0 && slot < this.countOf.length) this.countOf[slot] = 0;
  }

  /** Copies the ids of the slots still held into new blocks, dropping the old ones. */
  async compact(slots: number, pacer?: Pacer): Promise<void> {
    const old = this.blocks;
    const { blockOf, offsetOf, countOf } = this;
    this.blocks = [];
    this.used = 0;
    for (let slot = 0; slot < Math.min(slots - this.first, countOf.length); slot += 1) {
      const count = countOf[slot] as number;
      if (count === 0) continue;
      const offset = offsetOf[slot] as number;
      this.set(
        slot + this.first,
        (old[blockOf[slot] as number] as Int32Array).subarray(offset, offset + count),
      );
      if (slot % 10_000 === 0) await pacer?.tick();
    }
  }
}

/**
 * BM25 over chunk texts, keyed by the same labels as the vector index, with incremental add and remove. Terms go
 * through the same analyser as the embeddings (accent folding, French elisions, stemming, cognate keys), so
 * « enquête » matches « enquêtes » and « Palestinians » matches « palestiniens ».
 *
 * Postings are typed arrays (each list sorted by slot) and scores are accumulated into one reused array, term by
 * term over one block of slots after another, then the best `k` are kept with a small heap: a query costs a few
 * nanoseconds per posting, which keeps hybrid search in single-digit milliseconds on 100k chunks (a general-purpose
 * library such as MiniSearch allocates per match and was two orders of magnitude slower here). Removed chunks are
 * skipped until dead postings pass a quarter of all postings, then the lists are compacted.
 */
export class LexicalIndex {
  private readonly termIds = new Map<string, number>();
  private readonly postings: Postings[] = [];
  private documentFrequency = new Int32Array(64);
  /** Slot of each label plus one (0: no slot): labels are the store's dense chunk numbers, so an array, not a Map. */
  private slotOfLabel = new Int32Array(64);
  private labelOfSlot = new Int32Array(64);
  private lengthOfSlot = new Float32Array(64);
  private alive = new Uint8Array(64);
  /**
   * The term ids of each slot, for removals: those of the slots loaded from a file in one array (`loadedTerms`,
   * slot `s` at `loadedTermStart[s]` up to `loadedTermStart[s + 1]`: no object per chunk for the garbage collector
   * to trace), those of slots added since in `addedTerms`.
   */
  private loadedTerms = NO_SLOTS;
  private loadedTermStart = new Int32Array(1);
  private addedTerms = new AddedTerms();
  private slots = 0;
  private aliveCount = 0;
  private totalLength = 0;
  private totalPostings = 0;
  private deadPostings = 0;
  private scores = new Float32Array(64);
  private touched = new Int32Array(64);
  /** BM25's length normalisation of every slot, for the average length it was computed at. */
  private norms = { averageLength: Number.NaN, slots: 0, values: new Float32Array(0) };
  private scratch = new Int32Array(256);

  private readonly scoreBlock: number;
  private readonly kernel: Bm25Kernel | undefined;

  constructor(options: LexicalOptions = {}) {
    this.scoreBlock = options.scoreBlock ?? 32_768;
    this.kernel = options.kernel;
  }

  get size(): number {
    return this.aliveCount;
  }

  /**
   * Makes room for `count` more chunks with labels below `labelLimit`, one array at a time with a turn of the event
   * loop after each. Grown as chunks arrive, the seven per-chunk arrays double at the same chunk and are reallocated
   * and copied in one step: stalls of 108 and 137 ms at a million chunks in profiled ingests.
   */
  async reserve(count: number, labelLimit: number): Promise<void> {
    const slots = this.slots + count;
    const steps = [
      () => (this.labelOfSlot = grow(this.labelOfSlot, slots, (n) => new Int32Array(n))),
      () => (this.lengthOfSlot = grow(this.lengthOfSlot, slots, (n) => new Float32Array(n))),
      () => (this.alive = grow(this.alive, slots, (n) => new Uint8Array(n))),
      () => (this.slotOfLabel = grow(this.slotOfLabel, labelLimit, (n) => new Int32Array(n))),
      ...this.addedTerms.reserveSteps(slots),
    ];
    for (const step of steps) {
      step();
      await yieldToEventLoop();
    }
  }

  /** Indexes `text` under `label`, a non-negative integer (the store's chunk number), replacing what it held. */
  add(label: number, text: string): void {
    if (!Number.isSafeInteger(label) || label < 0) throw new RangeError(`not a chunk label: ${label}`);
    if ((this.slotOfLabel[label] ?? 0) > 0) this.remove(label);
    const terms = analyze(text);
    // Term ids sorted, then counted in runs: no per-chunk Map (this loop runs 5 million times at 100k chunks).
    if (this.scratch.length < terms.length) this.scratch = new Int32Array(terms.length * 2);
    const scratch = this.scratch;
    for (let t = 0; t < terms.length; t += 1) {
      const term = terms[t] as string;
      let id = this.termIds.get(term);
      if (id === undefined) {
        id = this.postings.push(new Postings()) - 1;
        this.termIds.set(term, id);
        this.documentFrequency = grow(this.documentFrequency, id + 1, (n) => new Int32Array(n));
      }
      scratch[t] = id;
    }
    const sorted = scratch.subarray(0, terms.length).sort();
    const slot = this.slots;
    this.slots += 1;
    this.labelOfSlot = grow(this.labelOfSlot, this.slots, (n) => new Int32Array(n));
    this.lengthOfSlot = grow(this.lengthOfSlot, this.slots, (n) => new Float32Array(n));
    this.alive = grow(this.alive, this.slots, (n) => new Uint8Array(n));
    this.labelOfSlot[slot] = label;
    this.lengthOfSlot[slot] = terms.length;
    this.alive[slot] = 1;
    // The distinct ids are written over the sorted ones (never ahead of the reading position).
    let distinct = 0;
    for (let i = 0; i < sorted.length;) {
      const id = sorted[i] as number;
      let end = i + 1;
      while (end < sorted.length && sorted[end] === id) end += 1;
      (this.postings[id] as Postings).push(slot, end - i);
      this.documentFrequency[id] = (this.documentFrequency[id] ?? 0) + 1;
      sorted[distinct++] = id;
      i = end;
    }
    this.addedTerms.set(slot, sorted.subarray(0, distinct));
    this.slotOfLabel = grow(this.slotOfLabel, label + 1, (n) => new Int32Array(n));
    this.slotOfLabel[label] = slot + 1;
    this.aliveCount += 1;
    this.totalLength += terms.length;
    this.totalPostings += distinct;
  }

  remove(label: number): void {
    const slot = (this.slotOfLabel[label] ?? 0) - 1;
    if (slot < 0) return;
    this.slotOfLabel[label] = 0;
    this.alive[slot] = 0;
    const loaded = slot + 1 < this.loadedTermStart.length;
    const ids = loaded
      ? this.loadedTerms.subarray(this.loadedTermStart[slot], this.loadedTermStart[slot + 1])
      : this.addedTerms.get(slot);
    for (const id of ids) this.documentFrequency[id] = (this.documentFrequency[id] ?? 1) - 1;
    this.addedTerms.delete(slot);
    this.aliveCount -= 1;
    this.totalLength -= this.lengthOfSlot[slot] ?? 0;
    this.deadPostings += ids.length;
  }

  /** Whether removed chunks hold enough postings (a quarter) for {@link compact} to be worth its pass. */
  get needsCompaction(): boolean {
    return this.deadPostings > 1000 && this.deadPostings > this.totalPostings / 4;
  }

  /** Drops the postings of removed chunks, a list at a time, yielding to `pacer` between lists. */
  async compact(pacer?: Pacer): Promise<void> {
    if (this.deadPostings === 0) return;
    for (const list of this.postings) {
      const dropped = list.compact(this.alive);
      this.totalPostings -= dropped;
      this.deadPostings -= dropped;
      const pause = pacer?.tick();
      if (pause) await pause;
    }
    await this.addedTerms.compact(this.slots, pacer);
  }

  /**
   * The index as bytes, so a restart need not re-analyse every chunk: a JSON header (the terms) and typed arrays
   * (slots, lengths, posting lists). Removed chunks are compacted away first.
   */
  async serialize(pacer?: Pacer): Promise<Buffer[]> {
    const parts: Buffer[] = [];
    await this.writeTo(async (bytes) => {
      parts.push(Buffer.from(bytes));
    }, pacer);
    return parts;
  }

  /**
   * Writes {@link serialize}'s bytes to `sink` in slices of at most 1 MB, most of them from one reused buffer (a
   * slice is only valid until `sink`'s promise settles). At 1M chunks the file is 285 MB: built as whole typed
   * arrays, 200 MB of memory outside the heap appeared at once, and V8 answered with a full collection whose
   * marking had barely started, holding the event loop 600-880 ms.
   */
  async writeTo(sink: (bytes: Uint8Array) => Promise<void>, pacer?: Pacer): Promise<void> {
    await this.compact(pacer);
    const newSlot = new Int32Array(this.slots).fill(-1);
    let live = 0;
    for (let slot = 0; slot < this.slots; slot += 1) {
      if (this.alive[slot] !== 1) continue;
      newSlot[slot] = live;
      live += 1;
      if (live % 10_000 === 0) await pacer?.tick();
    }
    const listLengths = new Int32Array(this.postings.length);
    let total = 0;
    for (let id = 0; id < this.postings.length; id += 1) {
      listLengths[id] = (this.postings[id] as Postings).count;
      total += listLengths[id] as number;
      if (id % 10_000 === 0) await pacer?.tick();
    }
    // The same JSON as JSON.stringify({ version, terms, slots, totalLength }), written a slice of terms at a time.
    const termParts: string[] = [];
    let slice: string[] = [];
    for (const term of this.termIds.keys()) {
      slice.push(term);
      if (slice.length === 10_000) {
        termParts.push(JSON.stringify(slice).slice(1, -1));
        slice = [];
        const pause = pacer?.tick();
        if (pause) await pause;
      }
    }
    if (slice.length > 0) termParts.push(JSON.stringify(slice).slice(1, -1));
    const header = Buffer.from(
      `{"version":1,"terms":[${termParts.join(',')}],"slots":${live},"totalLength":${this.totalLength}}`,
      'utf8',
    );
    await sink(new Uint8Array(Int32Array.from([header.length, live, listLengths.length, total]).buffer));
    await sink(header);
    await sink(new Uint8Array((4 - (header.length % 4)) % 4));

    const buffer = new ArrayBuffer(WRITE_SLICE_BYTES);
    const ints = new Int32Array(buffer);
    const floats = new Float32Array(buffer);
    const shorts = new Uint16Array(buffer);
    let used = 0;
    const flush = async (bytesPerEntry: number) => {
      if (used > 0) await sink(new Uint8Array(buffer, 0, used * bytesPerEntry));
      used = 0;
      const pause = pacer?.tick();
      if (pause) await pause;
    };
    // Called every PACE_ENTRIES entries: a slice holds 256k-512k of them, and until V8 optimises these loops (they
    // run once per save), an entry may allocate and V8's incremental marking then runs steps at the allocations.
    // Yielding only between slices held the event loop 225-393 ms after removing 1,000 documents at 1M.
    const step = async (bytesPerEntry: number) => {
      if (used * bytesPerEntry === WRITE_SLICE_BYTES) return flush(bytesPerEntry);
      const pause = pacer?.tick();
      if (pause) await pause;
    };
    for (let slot = 0; slot < this.slots; slot += 1) {
      if (this.alive[slot] !== 1) continue;
      ints[used++] = this.labelOfSlot[slot] as number;
      if (used % PACE_ENTRIES === 0) await step(4);
    }
    await flush(4);
    for (let slot = 0; slot < this.slots; slot += 1) {
      if (this.alive[slot] !== 1) continue;
      floats[used++] = this.lengthOfSlot[slot] as number;
      if (used % PACE_ENTRIES === 0) await step(4);
    }
    await flush(4);
    await sink(new Uint8Array(listLengths.buffer));
    // Loaded entries first, then added ones; indexed loops, so that a million lists allocate nothing here.
    for (const list of this.postings) {
      for (let part = 0; part < 2; part += 1) {
        const slots = part === 0 ? list.loadedSlots : list.slots;
        const length = part === 0 ? list.loadedLength : list.length;
        for (let i = 0; i < length; i += 1) {
          ints[used++] = newSlot[slots[i] as number] as number;
          if (used % PACE_ENTRIES === 0) await step(4);
        }
      }
    }
    await flush(4);
    for (const list of this.postings) {
      for (let part = 0; part < 2; part += 1) {
        const tfs = part === 0 ? list.loadedTfs : list.tfs;
        const length = part === 0 ? list.loadedLength : list.length;
        for (let i = 0; i < length; i += 1) {
          shorts[used++] = tfs[i] as number;
          if (used % PACE_ENTRIES === 0) await step(2);
        }
      }
    }
    await flush(2);
  }

  /** Rebuilds an index from {@link serialize}'s bytes; throws on bytes that do not hold one. */
  static deserialize(bytes: Uint8Array, options?: LexicalOptions): LexicalIndex {
    const copy = new Uint8Array(bytes).buffer;
    const sizes = new Int32Array(copy, 0, 4);
    const [headerLength, slotCount, termCount, total] = [
      sizes[0] ?? -1,
      sizes[1] ?? -1,
      sizes[2] ?? -1,
      sizes[3] ?? -1,
    ];
    let at = 16;
    const header = JSON.parse(Buffer.from(copy, at, headerLength).toString('utf8')) as {
      version: number;
      terms: string[];
      slots: number;
      totalLength: number;
    };
    if (header.version !== 1 || header.terms.length !== termCount || header.slots !== slotCount)
      throw new Error('not a lexical index');
    at += headerLength + ((4 - (headerLength % 4)) % 4);
    const labels = new Int32Array(copy, at, slotCount);
    at += slotCount * 4;
    const lengths = new Float32Array(copy, at, slotCount);
    at += slotCount * 4;
    const listLengths = new Int32Array(copy, at, termCount);
    at += termCount * 4;
    const postingSlots = new Int32Array(copy, at, total);
    at += total * 4;
    const postingTfs = new Uint16Array(copy, at, total);
    if (at + total * 2 !== copy.byteLength) throw new Error('lexical index has the wrong size');

    const index = new LexicalIndex(options);
    index.slots = slotCount;
    index.labelOfSlot = Int32Array.from(labels);
    index.lengthOfSlot = Float32Array.from(lengths);
    index.alive = new Uint8Array(Math.max(slotCount, 1)).fill(1);
    index.documentFrequency = new Int32Array(Math.max(termCount, 1));
    // The forward index (the terms of each slot, for removals) in one array, filled in two passes over the postings.
    const start = new Int32Array(slotCount + 1);
    for (let p = 0; p < total; p += 1) {
      const next = (postingSlots[p] as number) + 1;
      start[next] = (start[next] as number) + 1;
    }
    for (let slot = 0; slot < slotCount; slot += 1)
      start[slot + 1] = (start[slot + 1] as number) + (start[slot] as number);
    const forward = new Int32Array(total);
    const fill = start.slice(0, slotCount);
    let offset = 0;
    header.terms.forEach((term, id) => {
      const length = listLengths[id] as number;
      const list = new Postings();
      if (length > 0) {
        list.loadedSlots = postingSlots.subarray(offset, offset + length);
        list.loadedTfs = postingTfs.subarray(offset, offset + length);
        list.loadedLength = length;
      }
      for (let i = offset; i < offset + length; i += 1) {
        const slot = postingSlots[i] as number;
        const position = fill[slot] as number;
        forward[position] = id;
        fill[slot] = position + 1;
      }
      offset += length;
      index.termIds.set(term, id);
      index.postings.push(list);
      index.documentFrequency[id] = length;
    });
    index.loadedTerms = forward;
    index.addedTerms = new AddedTerms(slotCount);
    index.loadedTermStart = start;
    let maxLabel = -1;
    for (let slot = 0; slot < slotCount; slot += 1) maxLabel = Math.max(maxLabel, labels[slot] as number);
    index.slotOfLabel = new Int32Array(Math.max(64, maxLabel + 1));
    for (let slot = 0; slot < slotCount; slot += 1) index.slotOfLabel[labels[slot] as number] = slot + 1;
    index.aliveCount = slotCount;
    index.totalLength = header.totalLength;
    index.totalPostings = total;
    return index;
  }

  /** The best `k` chunks among those `visible` accepts, by BM25. */
  /** `K1 * (1 - B + B * length / averageLength)` per slot, recomputed only when the average length has changed. */
  private lengthNorms(): Float32Array {
    const averageLength = this.totalLength / this.aliveCount || 1;
    if (this.norms.averageLength === averageLength && this.norms.slots === this.slots)
      return this.norms.values;
    const values = new Float32Array(this.slots);
    for (let slot = 0; slot < this.slots; slot += 1)
      values[slot] = K1 * (1 - B + (B * (this.lengthOfSlot[slot] as number)) / averageLength);
    this.norms = { averageLength, slots: this.slots, values };
    return values;
  }

  /**
   * The posting list and BM25 weight (idf · (k1 + 1)) of each query term, a list shared by several terms scored once
   * with their weights summed: a word and its cognate key (« chercheurs »: `chercheur` and `~cherch`) usually match
   * the same chunks, and scoring both doubled the work of a query for the same sum.
   */
  private weightedLists(ids: readonly number[], n: number): { list: Postings; weight: number }[] {
    const lists: { list: Postings; weight: number }[] = [];
    for (const id of ids) {
      const df = this.documentFrequency[id] as number;
      const weight = Math.log(1 + (n - df + 0.5) / (df + 0.5)) * (K1 + 1);
      const list = this.postings[id] as Postings;
      const twin = lists.find((other) => samePostings(other.list, list));
      if (twin) twin.weight += weight;
      else lists.push({ list, weight });
    }
    return lists;
  }

  query(text: string, k: number, visible: (label: number) => boolean): LexicalHit[] {
    if (this.aliveCount === 0 || k <= 0) return [];
    const ids = [...new Set(analyze(text))].flatMap((t) => {
      const id = this.termIds.get(t);
      return id === undefined || (this.documentFrequency[id] ?? 0) === 0 ? [] : [id];
    });
    if (ids.length === 0) return [];
    const n = this.aliveCount;
    const norms = this.lengthNorms();
    const lists = this.weightedLists(ids, n);
    if (this.kernel) return this.queryNatively(this.kernel, lists, norms, k, visible);
    if (this.scores.length < this.slots)
      this.scores = new Float32Array(Math.max(this.slots, this.scores.length * 2));
    if (this.touched.length < this.scoreBlock) this.touched = new Int32Array(this.scoreBlock);
    const scores = this.scores;
    const touched = this.touched;
    const alive = this.alive;
    const labelOfSlot = this.labelOfSlot;
    const cursors = new Int32Array(lists.length * 2);
    const heap: LexicalHit[] = [];
    for (let start = 0; start < this.slots; start += this.scoreBlock) {
      const end = start + this.scoreBlock;
      let count = 0;
      for (let l = 0; l < lists.length; l += 1) {
        const { list, weight } = lists[l] as { list: Postings; weight: number };
        for (let part = 0; part < 2; part += 1) {
          const slots = part === 0 ? list.loadedSlots : list.slots;
          const tfs = part === 0 ? list.loadedTfs : list.tfs;
          const length = part === 0 ? list.loadedLength : list.length;
          let i = cursors[l * 2 + part] as number;
          for (; i < length; i += 1) {
            const slot = slots[i] as number;
            if (slot >= end) break;
            if (alive[slot] !== 1) continue;
            const tf = tfs[i] as number;
            const before = scores[slot] as number;
            if (before === 0) touched[count++] = slot;
            scores[slot] = before + (weight * tf) / (tf + (norms[slot] as number));
          }
          cursors[l * 2 + part] = i;
        }
      }
      // The block's candidates, while its scores are still in the cache; a label is read only for a score that
      // can enter the heap.
      for (let t = 0; t < count; t += 1) {
        const slot = touched[t] as number;
        const score = scores[slot] as number;
        scores[slot] = 0;
        if (heap.length === k && score < (heap[0] as LexicalHit).score) continue;
        const label = labelOfSlot[slot] as number;
        if (heap.length === k && !ranksAbove(score, label, heap[0] as LexicalHit)) continue;
        if (!visible(label)) continue;
        pushBounded(heap, { label, score }, k);
      }
    }
    return heap.sort((a, b) => b.score - a.score || a.label - b.label);
  }

  /**
   * {@link query} by the native kernel: it ranks slots without knowing which labels are visible, so it is asked for
   * more until `k` visible hits are found or it has no more to give.
   */
  private queryNatively(
    kernel: Bm25Kernel,
    lists: readonly { list: Postings; weight: number }[],
    norms: Float32Array,
    k: number,
    visible: (label: number) => boolean,
  ): LexicalHit[] {
    const slots: Int32Array[] = [];
    const tfs: Uint16Array[] = [];
    const lengths = new Int32Array(lists.length * 2);
    const weights = new Float64Array(lists.length * 2);
    lists.forEach(({ list, weight }, l) => {
      slots.push(list.loadedSlots, list.slots);
      tfs.push(list.loadedTfs, list.tfs);
      lengths[l * 2] = list.loadedLength;
      lengths[l * 2 + 1] = list.length;
      weights[l * 2] = weight;
      weights[l * 2 + 1] = weight;
    });
    for (let wanted = k; ; wanted *= 4) {
      const found = kernel(
        slots,
        tfs,
        lengths,
        weights,
        norms,
        this.alive,
        this.labelOfSlot,
        this.slots,
        this.scoreBlock,
        wanted,
      );
      const hits: LexicalHit[] = [];
      for (let i = 0; i < found.labels.length && hits.length < k; i += 1) {
        const label = found.labels[i] as number;
        if (visible(label)) hits.push({ label, score: found.scores[i] as number });
      }
      if (hits.length === k || found.labels.length < wanted) return hits;
    }
  }
}

/**
 * Whether a hit of `score` and `label` ranks above `other`: a higher score, or the same score and a lower label, so
 * that which of several tied hits make the top k does not depend on the order they were scored in.
 */
function ranksAbove(score: number, label: number, other: LexicalHit): boolean {
  return score > other.score || (score === other.score && label < other.label);
}

function ranksBelow(hit: LexicalHit, other: LexicalHit): boolean {
  return ranksAbove(other.score, other.label, hit);
}

/** Keeps the `k` best hits in a min-heap (the worst of them at the root). */
function pushBounded(heap: LexicalHit[], hit: LexicalHit, k: number): void {
  if (heap.length < k) {
    heap.push(hit);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as LexicalHit;
      const below = heap[i] as LexicalHit;
      if (!ranksAbove(above.score, above.label, below)) break;
      heap[parent] = below;
      heap[i] = above;
      i = parent;
    }
    return;
  }
  heap[0] = hit;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < heap.length && ranksBelow(heap[left] as LexicalHit, heap[smallest] as LexicalHit))
      smallest = left;
    if (right < heap.length && ranksBelow(heap[right] as LexicalHit, heap[smallest] as LexicalHit))
      smallest = right;
    if (smallest === i) return;
    const moved = heap[i] as LexicalHit;
    heap[i] = heap[smallest] as LexicalHit;
    heap[smallest] = moved;
    i = smallest;
  }
}
