import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { ProjectionKernel } from './projection-kernel.js';
import type { DotRows } from './hnswlib.js';

/** Rows of a sample used to fit a {@link Projection}: enough for a stable second-moment matrix, cheap to fit. */
export const PROJECTION_SAMPLE_ROWS = 2048;

/**
 * A linear map onto the principal directions of a sample of vectors: the eigenvectors of their second-moment matrix
 * with the largest eigenvalues. Inner products of projected vectors approximate those of the originals, keeping the
 * part that varies most across the corpus. An hnsw graph built on projections costs a fraction of one built on the
 * full vectors; the candidates it returns are then re-ranked on the full vectors ({@link FullVectors}).
 */
export class Projection {
  /** The WebAssembly kernel once made; `null` where it cannot run. */
  private kernel: ProjectionKernel | null | undefined;

  private constructor(
    readonly from: number,
    readonly to: number,
    /** `to` rows of `from` values: row j is the j-th principal direction. */
    readonly components: Float32Array,
    /**
     * 127 over the largest magnitude of any projected value of the sample's unit vectors: a projected value times
     * this, rounded, is its int8 code (the rare larger value is clamped). 0 when unknown (a projection saved
     * before the scale was recorded, or the zeros an empty graph saves).
     */
    readonly scale = 0,
  ) {}

  /** Fits a projection from `from` to `to` dimensions on the first rows (at most {@link PROJECTION_SAMPLE_ROWS}). */
  static fit(vectors: Float32Array, from: number, to: number): Projection {
    if (!(to > 0 && to <= from)) throw new RangeError(`cannot project ${from} dimensions onto ${to}`);
    const rows = Math.min(Math.floor(vectors.length / from), PROJECTION_SAMPLE_ROWS);
    const moment = new Float64Array(from * from);
    for (let r = 0; r < rows; r += 1) {
      const base = r * from;
      for (let i = 0; i < from; i += 1) {
        const x = vectors[base + i] as number;
        if (x === 0) continue;
        const row = i * from;
        for (let j = i; j < from; j += 1) moment[row + j]! += x * (vectors[base + j] as number);
      }
    }
    const matrix = new Matrix(from, from);
    for (let i = 0; i < from; i += 1)
      for (let j = i; j < from; j += 1) {
        const value = (moment[i * from + j] as number) / Math.max(1, rows);
        matrix.set(i, j, value);
        matrix.set(j, i, value);
      }
    const evd = new EigenvalueDecomposition(matrix, { assumeSymmetric: true });
    const order = evd.realEigenvalues
      .map((value, index) => ({ value, index }))
      .sort((a, b) => b.value - a.value);
    const eigenvectors = evd.eigenvectorMatrix;
    const components = new Float32Array(to * from);
    for (let j = 0; j < to; j += 1) {
      const column = (order[j] as { index: number }).index;
      for (let i = 0; i < from; i += 1) components[j * from + i] = eigenvectors.get(i, column);
    }
    const unscaled = new Projection(from, to, components);
    const unit = new Float32Array(from);
    let largest = 0;
    for (let r = 0; r < rows; r += 1) {
      writeUnit(vectors, r * from, from, unit);
      for (const value of unscaled.apply(unit)) largest = Math.max(largest, Math.abs(value));
    }
    // A sample of zero vectors has no magnitude to scale by; a projected unit vector's values never exceed 1.
    return new Projection(from, to, components, 127 / (largest > 0 ? largest : 1));
  }

  /** A projection read back from its components (`to` rows of `from` values) and its int8 scale. */
  static of(from: number, to: number, components: Float32Array, scale = 0): Projection {
    if (components.length !== from * to)
      throw new RangeError(`${components.length} components for ${from} → ${to} dimensions`);
    if (!(scale >= 0 && Number.isFinite(scale))) throw new RangeError(`int8 scale ${scale}`);
    return new Projection(from, to, components, scale);
  }

  /** The projection of the vector at `offset` in `source`, as the plain array hnswlib-node takes. */
  apply(source: Float32Array, offset = 0): number[] {
    if (this.kernel === undefined)
      this.kernel = ProjectionKernel.create(this.components, this.from, this.to) ?? null;
    return this.kernel ? this.kernel.apply(source, offset) : this.applyInJs(source, offset);
  }

  /** {@link apply} without WebAssembly: where the kernel cannot run, and as its reference in tests. */
  applyInJs(source: Float32Array, offset = 0): number[] {
    const { from, to, components } = this;
    const out = new Array<number>(to);
    for (let j = 0; j < to; j += 1) {
      let sum = 0;
      const row = j * from;
      for (let i = 0; i < from; i += 1)
        sum += (components[row + i] as number) * (source[offset + i] as number);
      out[j] = sum;
    }
    return out;
  }
}

/** Writes the vector at `offset` of `source`, scaled to unit length (a zero vector stays zero), into `out` at `at`. */
export function writeUnit(
  source: ArrayLike<number>,
  offset: number,
  d: number,
  out: Float32Array,
  at = 0,
): void {
  let norm = 0;
  for (let i = 0; i < d; i += 1) norm += (source[offset + i] as number) ** 2;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < d; i += 1) out[at + i] = (source[offset + i] as number) * scale;
}

interface Rows {
  labels: Float64Array;
  vectors: Float32Array;
}

/**
 * The full, unit-length vectors of a projected graph, by label, to re-rank its candidates exactly: the distances a
 * projected graph returns are those of the full vectors, so its results merge with any other graph's. Vectors read
 * from a file stay where they were read; vectors added later go to a part of their own, so the first addition after
 * a start copies nothing.
 */
export class FullVectors {
  private readonly loaded: Rows;
  private added: Rows;
  private addedRows = 0;
  private readonly rowOf = new Map<number, number>();

  constructor(
    readonly dimensions: number,
    capacity: number,
    loaded: Rows = { labels: new Float64Array(0), vectors: new Float32Array(0) },
  ) {
    this.loaded = loaded;
    this.added = { labels: new Float64Array(capacity), vectors: new Float32Array(capacity * dimensions) };
    loaded.labels.forEach((label, row) => this.rowOf.set(label, row));
  }

  /** Vectors read back from {@link parts}' arrays (already unit length), kept without a copy. */
  static of(dimensions: number, labels: Float64Array, vectors: Float32Array): FullVectors {
    if (vectors.length !== labels.length * dimensions)
      throw new RangeError(`${vectors.length} values for ${labels.length} vectors of ${dimensions}`);
    return new FullVectors(dimensions, 0, { labels, vectors });
  }

  get count(): number {
    return this.loaded.labels.length + this.addedRows;
  }

  /** Makes room for `more` vectors, growing by half at least, so that adding one at a time stays linear. */
  reserve(more: number): void {
    const needed = this.addedRows + more;
    if (needed <= this.added.labels.length) return;
    const capacity = Math.max(needed, Math.ceil(this.added.labels.length * 1.5));
    const labels = new Float64Array(capacity);
    labels.set(this.added.labels.subarray(0, this.addedRows));
    const vectors = new Float32Array(capacity * this.dimensions);
    vectors.set(this.added.vectors.subarray(0, this.addedRows * this.dimensions));
    this.added = { labels, vectors };
  }

  /** Stores the vector at `offset` of `source` under `label`, scaled to unit length; writes it to `out` too. */
  add(label: number, source: ArrayLike<number>, offset: number, out?: Float32Array): void {
    const d = this.dimensions;
    this.reserve(1);
    const base = this.addedRows * d;
    const vectors = this.added.vectors;
    writeUnit(source, offset, d, vectors, base);
    if (out) out.set(vectors.subarray(base, base + d));
    this.added.labels[this.addedRows] = label;
    this.rowOf.set(label, this.loaded.labels.length + this.addedRows);
    this.addedRows += 1;
  }

  /** Cosine similarity of the unit vector `query` with the vector of `label` (-Infinity when it is unknown). */
  similarity(label: number, query: Float32Array): number {
    let row = this.rowOf.get(label);
    if (row === undefined) return -Infinity;
    let vectors = this.loaded.vectors;
    if (row >= this.loaded.labels.length) {
      row -= this.loaded.labels.length;
      vectors = this.added.vectors;
    }
    const d = this.dimensions;
    const base = row * d;
    let sum = 0;
    for (let i = 0; i < d; i += 1) sum += (query[i] as number) * (vectors[base + i] as number);
    return sum;
  }

  /**
   * {@link similarity} of `query` with the vector of each label, computed by `dotRows` (the int8 addon's, which
   * fetches the rows together) when given, in JavaScript otherwise.
   */
  similarities(labels: readonly number[], query: Float32Array, dotRows?: DotRows): Float64Array {
    const out = new Float64Array(labels.length).fill(-Infinity);
    if (!dotRows) {
      labels.forEach((label, i) => (out[i] = this.similarity(label, query)));
      return out;
    }
    const split = this.loaded.labels.length;
    const loadedRows = new Int32Array(labels.length).fill(-1);
    const addedRows = new Int32Array(labels.length).fill(-1);
    labels.forEach((label, i) => {
      const row = this.rowOf.get(label);
      if (row === undefined) return;
      if (row < split) loadedRows[i] = row;
      else addedRows[i] = row - split;
    });
    if (split > 0) dotRows(this.loaded.vectors, loadedRows, query, out);
    if (this.addedRows > 0) dotRows(this.added.vectors, addedRows, query, out);
    return out;
  }

  /** The stored labels and vectors as arrays to write one after the other (views, no copy). */
  parts(): { labels: Float64Array[]; vectors: Float32Array[] } {
    const d = this.dimensions;
    return {
      labels: [this.loaded.labels, this.added.labels.subarray(0, this.addedRows)],
      vectors: [this.loaded.vectors, this.added.vectors.subarray(0, this.addedRows * d)],
    };
  }
}

const MAGIC = 0x56425056; // "VBPV"
const FORMAT_VERSION = 1;
const HEADER_BYTES = 32;

const padded = (bytes: number) => Math.ceil(bytes / 8) * 8;

/** The file of a projected graph's projection and full vectors, as parts to write one after the other (no copy). */
export function serializeProjected(projection: Projection, full: FullVectors): Uint8Array[] {
  const { labels, vectors } = full.parts();
  const bytesOf = (array: Float64Array | Float32Array) =>
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(FORMAT_VERSION, 4);
  header.writeUInt32LE(projection.from, 8);
  header.writeUInt32LE(projection.to, 12);
  header.writeDoubleLE(full.count, 16);
  header.writeDoubleLE(projection.scale, 24);
  const components = new Uint8Array(padded(projection.components.byteLength));
  components.set(
    new Uint8Array(
      projection.components.buffer,
      projection.components.byteOffset,
      projection.components.byteLength,
    ),
  );
  return [header, components, ...labels.map(bytesOf), ...vectors.map(bytesOf)];
}

/** Reads {@link serializeProjected}'s file; throws a RangeError when it is not one for `from` → `to` dimensions. */
export function parseProjected(
  bytes: Uint8Array,
  from: number,
  to: number,
): { projection: Projection; full: FullVectors } {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
  if (aligned.byteLength < HEADER_BYTES || view.getUint32(0, true) !== MAGIC)
    throw new RangeError('not a projected-vectors file');
  if (view.getUint32(4, true) !== FORMAT_VERSION) throw new RangeError('unknown projected-vectors format');
  if (view.getUint32(8, true) !== from || view.getUint32(12, true) !== to)
    throw new RangeError(`projected-vectors file is not ${from} → ${to} dimensions`);
  const count = view.getFloat64(16, true);
  const componentBytes = padded(from * to * 4);
  const expected = HEADER_BYTES + componentBytes + count * 8 + count * from * 4;
  if (!Number.isInteger(count) || aligned.byteLength !== expected)
    throw new RangeError(
      `projected-vectors file is ${aligned.byteLength} bytes, its header says ${expected}`,
    );
  const at = aligned.byteOffset + HEADER_BYTES;
  const components = new Float32Array(aligned.buffer, at, from * to).slice();
  const scale = view.getFloat64(24, true);
  const labels = new Float64Array(aligned.buffer, at + componentBytes, count);
  const vectors = new Float32Array(aligned.buffer, at + componentBytes + count * 8, count * from);
  return {
    projection: Projection.of(from, to, components, scale),
    full: FullVectors.of(from, labels, vectors),
  };
}
