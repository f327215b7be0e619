/** How far from 0, in standard deviations of its dimension, the 4-bit codes reach before they clip. */
const CLIP_DEVIATIONS = 3;
/** Rows read to estimate the dimensions' spread. */
const SAMPLE_ROWS = 8192;

/**
 * 4-bit copies of a scan's int8 codes, for a first pass that reads half the bytes (the int8 addon's `scanKnn4`): a
 * row of `d` dimensions takes `d/2` bytes, byte j holding dimension j in its low nibble and dimension j + d/2 in its
 * high one. Each dimension has its own step (its spread over the rows, measured when the copy is made), since the
 * projection's first dimensions spread much wider than its last. The copy lives in memory only: it is made from the
 * int8 codes when the scan is loaded and whenever the rows have doubled since the steps were measured, and each row
 * added in between is encoded with the steps as they are.
 */
export class NibbleCodes {
  private packed = new Uint8Array(0);
  private readonly steps: Float32Array;
  private rows = 0;
  private measuredAt = 0;

  constructor(private readonly dimensions: number) {
    if (dimensions % 2 !== 0)
      throw new RangeError(`4-bit codes need an even number of dimensions, not ${dimensions}`);
    this.steps = new Float32Array(dimensions);
  }

  /** The copy, `rows · d/2` bytes (valid until the next {@link update}). */
  get codes(): Uint8Array {
    return this.packed;
  }

  /** Brings the copy up to the first `rows` rows of `codes` (int8, `d` per row). */
  update(codes: Int8Array, rows: number): void {
    if (rows < this.rows || this.measuredAt === 0 || rows >= this.measuredAt * 2) {
      this.measure(codes, rows);
      this.rows = 0;
    }
    const half = this.dimensions / 2;
    if (this.packed.length < rows * half) {
      const packed = new Uint8Array(Math.max(rows, Math.ceil((this.packed.length / half) * 1.5)) * half);
      packed.set(this.packed.subarray(0, this.rows * half));
      this.packed = packed;
    }
    const steps = this.steps;
    const nibble = (code: number, step: number) => Math.max(0, Math.min(15, Math.floor(code / step) + 8));
    for (let row = this.rows; row < rows; row += 1) {
      const at = row * this.dimensions;
      const out = row * half;
      for (let j = 0; j < half; j += 1)
        this.packed[out + j] =
          nibble(codes[at + j] as number, steps[j] as number) |
          (nibble(codes[at + half + j] as number, steps[half + j] as number) << 4);
    }
    this.rows = rows;
  }

  /**
   * The query's weights for the 4-bit codes: each int8 code of the query times its dimension's step, scaled into
   * ±127. A row's dot product with them ranks it as its decoded values would (the decoding's offset adds the same
   * amount to every row).
   */
  weights(query: Int8Array, out: Int8Array): Int8Array {
    let largest = 0;
    for (let d = 0; d < this.dimensions; d += 1)
      largest = Math.max(largest, Math.abs((query[d] as number) * (this.steps[d] as number)));
    const scale = largest > 0 ? 127 / largest : 0;
    for (let d = 0; d < this.dimensions; d += 1)
      out[d] = Math.round((query[d] as number) * (this.steps[d] as number) * scale);
    return out;
  }

  /** Each dimension's step: the spread of a sample of rows, so that ±{@link CLIP_DEVIATIONS} fill the 16 values. */
  private measure(codes: Int8Array, rows: number): void {
    const d = this.dimensions;
    const every = Math.max(1, Math.floor(rows / SAMPLE_ROWS));
    const squares = new Float64Array(d);
    let sampled = 0;
    for (let row = 0; row < rows; row += every) {
      for (let i = 0; i < d; i += 1) {
        const code = codes[row * d + i] as number;
        squares[i] = (squares[i] as number) + code * code;
      }
      sampled += 1;
    }
    for (let i = 0; i < d; i += 1)
      this.steps[i] = Math.max(
        0.25,
        (CLIP_DEVIATIONS * Math.sqrt((squares[i] as number) / Math.max(1, sampled))) / 8,
      );
    this.measuredAt = Math.max(1, rows);
  }
}
