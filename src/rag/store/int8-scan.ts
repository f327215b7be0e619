import { open, readFile, writeFile } from 'node:fs/promises';
import type { Int8GraphModule } from './hnswlib.js';
import { NibbleCodes } from './nibble-codes.js';

/** The first bytes of a {@link Int8Scan} file; an hnswlib graph file starts with a zero offset instead. */
const MAGIC = Buffer.from('VBI8SCAN', 'latin1');
const FORMAT_VERSION = 1;
/** Magic, format version (u32), dimensions (u32), points (f64). */
const HEADER_BYTES = 24;
/** Rows from which a search reads 4-bit codes first: below, the int8 codes (2 MB at 128 dimensions) stay in cache. */
const FIRST_PASS_FROM = 16_384;
/** Candidates the 4-bit pass keeps beyond the k asked for (twice k when that is more). */
const FIRST_PASS_MARGIN = 32;

/** Writes `point` times `scale`, rounded and clamped to ±127, into `out`: the int8 code of a projected point. */
export function encodeInt8(point: ArrayLike<number>, scale: number, out: Int8Array): Int8Array {
  if (!(scale > 0)) throw new Error('int8 codes asked for before the projection has a scale');
  for (let i = 0; i < out.length; i += 1)
    out[i] = Math.max(-127, Math.min(127, Math.round((point[i] as number) * scale)));
  return out;
}

/** Whether the file at `path` is an {@link Int8Scan} file (a graph file otherwise). */
export async function isScanFile(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC.length);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.equals(MAGIC);
  } finally {
    await file.close();
  }
}

/**
 * The int8 codes of projected points in plain arrays, searched by comparing the query with every one of them (the
 * int8 addon's `scanKnn`): no graph to build, nothing the codes can tell apart is missed, and below a few hundred
 * thousand points per thread it answers faster than a graph. It has the operations of an hnsw graph, with the same
 * labels, distances and deletion rules, so a shard swaps one for the other.
 */
export class Int8Scan {
  private codes: Int8Array;
  private labels: Float64Array;
  private deleted: Uint8Array;
  private rows = 0;
  private rowOf = new Map<number, number>();
  private readonly query: Int8Array;
  private readonly weights: Int8Array;
  private nibbles: NibbleCodes | undefined;

  constructor(
    private readonly lib: Int8GraphModule,
    private readonly dimensions: number,
    capacity: number,
    /** The scale of the shard's projection as it is now (0 before one is fitted or loaded). */
    private readonly scale: () => number,
    /**
     * Rows from which a search first reads 4-bit copies of the codes ({@link NibbleCodes}), then the int8 codes of
     * the best of them only: half the bytes from memory for each question.
     */
    private readonly firstPassFrom = FIRST_PASS_FROM,
  ) {
    this.query = new Int8Array(dimensions);
    this.weights = new Int8Array(dimensions);
    this.nibbles = this.newNibbles();
    this.codes = new Int8Array(capacity * dimensions);
    this.labels = new Float64Array(capacity);
    this.deleted = new Uint8Array(capacity);
  }

  get count(): number {
    return this.rows;
  }

  get capacity(): number {
    return this.labels.length;
  }

  resize(capacity: number): void {
    if (capacity < this.rows) throw new RangeError(`cannot shrink ${this.rows} points to ${capacity}`);
    const codes = new Int8Array(capacity * this.dimensions);
    codes.set(this.codes.subarray(0, this.rows * this.dimensions));
    const labels = new Float64Array(capacity);
    labels.set(this.labels.subarray(0, this.rows));
    const deleted = new Uint8Array(capacity);
    deleted.set(this.deleted.subarray(0, this.rows));
    this.codes = codes;
    this.labels = labels;
    this.deleted = deleted;
  }

  /** Adds the point of a new label (the store never reuses one): a label already held is refused. */
  add(point: number[], label: number): void {
    if (this.rowOf.has(label)) throw new RangeError(`label ${label} is already held`);
    const row = this.rows;
    if (row === this.capacity) this.resize(Math.max(16, Math.ceil(this.capacity * 1.5)));
    encodeInt8(point, this.scale(), this.codes.subarray(row * this.dimensions, (row + 1) * this.dimensions));
    this.rowOf.set(label, row);
    this.labels[row] = label;
    this.rows += 1;
  }

  search(point: number[], n: number, visibleBelow: number): { neighbors: number[]; distances: number[] } {
    const query = encodeInt8(point, this.scale(), this.query);
    if (this.nibbles && this.lib.scanKnn4 && this.rows >= this.firstPassFrom) {
      this.nibbles.update(this.codes, this.rows);
      return this.lib.scanKnn4(
        this.nibbles.codes,
        this.codes,
        this.labels,
        this.deleted,
        this.rows,
        this.nibbles.weights(query, this.weights),
        query,
        Math.max(n * 2, n + FIRST_PASS_MARGIN),
        n,
        visibleBelow,
      );
    }
    return this.lib.scanKnn(this.codes, this.labels, this.deleted, this.rows, query, n, visibleBelow);
  }

  private newNibbles(): NibbleCodes | undefined {
    return this.lib.scanKnn4 && this.dimensions % 2 === 0 ? new NibbleCodes(this.dimensions) : undefined;
  }

  /** Throws, as hnswlib does, when the label is not held or already deleted. */
  markDelete(label: number): void {
    const row = this.rowOf.get(label);
    if (row === undefined || this.deleted[row])
      throw new Error(`label ${label} not found or already deleted`);
    this.deleted[row] = 1;
  }

  ids(): number[] {
    return Array.from(this.labels.subarray(0, this.rows));
  }

  /** Row of the label, when held. */
  rowOfLabel(label: number): number | undefined {
    return this.rowOf.get(label);
  }

  /** Rows `from` to `to` (excluded), in the order they were added: to build a graph from. */
  slice(from: number, to: number): { codes: Int8Array; labels: Float64Array; deleted: Uint8Array } {
    const d = this.dimensions;
    return {
      codes: this.codes.subarray(from * d, to * d),
      labels: this.labels.subarray(from, to),
      deleted: this.deleted.subarray(from, to),
    };
  }

  async write(path: string): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(FORMAT_VERSION, 8);
    header.writeUInt32LE(this.dimensions, 12);
    header.writeDoubleLE(this.rows, 16);
    const { codes, labels, deleted } = this.slice(0, this.rows);
    const bytes = (a: Int8Array | Float64Array | Uint8Array) =>
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const padding = new Uint8Array((8 - (this.rows % 8)) % 8);
    await writeFile(path, [header, bytes(labels), bytes(deleted), padding, bytes(codes)]);
  }

  /** Replaces the points with those of a file {@link write} made; throws a RangeError when it is not one. */
  async read(path: string): Promise<void> {
    const file = await readFile(path);
    if (file.length < HEADER_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC))
      throw new RangeError('not an int8 scan file');
    if (file.readUInt32LE(8) !== FORMAT_VERSION) throw new RangeError(`scan format ${file.readUInt32LE(8)}`);
    if (file.readUInt32LE(12) !== this.dimensions)
      throw new RangeError(`scan of ${file.readUInt32LE(12)} dimensions, ${this.dimensions} expected`);
    const rows = file.readDoubleLE(16);
    const flags = rows + ((8 - (rows % 8)) % 8);
    if (
      !Number.isSafeInteger(rows) ||
      file.length !== HEADER_BYTES + rows * 8 + flags + rows * this.dimensions
    )
      throw new RangeError(`scan of ${rows} points has ${file.length} bytes`);
    // Copied into arrays of their own: the file's buffer may sit at any offset of a shared pool.
    const labels = new Float64Array(rows);
    new Uint8Array(labels.buffer).set(file.subarray(HEADER_BYTES, HEADER_BYTES + rows * 8));
    const at = HEADER_BYTES + rows * 8;
    const deleted = Uint8Array.from(file.subarray(at, at + rows));
    const codes = new Int8Array(file.buffer, file.byteOffset + at + flags, rows * this.dimensions).slice();
    const rowOf = new Map<number, number>();
    labels.forEach((label, row) => rowOf.set(label, row));
    if (rowOf.size !== rows) throw new RangeError('scan file repeats a label');
    this.rowOf = rowOf;
    this.codes = codes;
    this.labels = labels;
    this.deleted = deleted;
    this.rows = rows;
    this.nibbles = this.newNibbles();
    if (rows >= this.firstPassFrom) this.nibbles?.update(codes, rows);
  }
}
