import { stat } from 'node:fs/promises';
import { sha256File } from './atomic-file.js';
import { loadHnswlib, type HnswlibBuildMode, type HnswlibModule } from './hnswlib.js';

type Hnsw = InstanceType<HnswlibModule['HierarchicalNSW']>;

/** How one hnsw graph is built and searched. */
export interface GraphParams {
  dimensions: number;
  m: number;
  efConstruction: number;
  efSearch: number;
  /** Which hnswlib build to load (see {@link loadHnswlib}); `auto` when absent. */
  build?: HnswlibBuildMode;
}

/** Size and SHA-256 of a saved graph, as recorded in the manifest. */
export interface FileChecksum {
  sha256: string;
  bytes: number;
}

/** Nearest labels, closest first, with cosine distances (0 is identical). */
export interface ShardHits {
  labels: number[];
  distances: number[];
}

/** A saved graph that does not match its recorded size or checksum: it is never handed to hnswlib's loader. */
export class CorruptGraphError extends Error {
  override readonly name = 'CorruptGraphError';
}

/**
 * Checks a saved graph against its recorded size and SHA-256 before anything parses it: hnswlib's loader trusts the
 * sizes written in the file, so a damaged or crafted file could make it allocate or read out of bounds.
 */
export async function verifyGraphFile(path: string, expected: FileChecksum): Promise<void> {
  let bytes: number;
  try {
    bytes = (await stat(path)).size;
  } catch {
    throw new CorruptGraphError(`${path} is missing`);
  }
  if (bytes !== expected.bytes)
    throw new CorruptGraphError(`${path} is ${bytes} bytes, the manifest says ${expected.bytes}`);
  if ((await sha256File(path)) !== expected.sha256) throw new CorruptGraphError(`${path} checksum mismatch`);
}

/**
 * One hnswlib graph: the code shared by a graph kept on the main thread and one kept in a worker thread. Labels are
 * the store's chunk labels; `visibleBelow` hides labels of a change the served snapshot does not include yet.
 */
export class GraphShard {
  private index: Hnsw;
  private readonly lib: HnswlibModule;

  constructor(private readonly params: GraphParams) {
    this.lib = loadHnswlib(params.build).lib;
    this.index = this.fresh(16);
  }

  private fresh(capacity: number): Hnsw {
    const index = new this.lib.HierarchicalNSW('cosine', this.params.dimensions);
    index.initIndex({
      maxElements: Math.max(capacity, 16),
      m: this.params.m,
      efConstruction: this.params.efConstruction,
      randomSeed: 100,
    });
    index.setEf(this.params.efSearch);
    return index;
  }

  reset(capacity: number): void {
    this.index = this.fresh(capacity);
  }

  /** Replaces the graph with a saved one, after checking it against its checksum. */
  async load(path: string, expected: FileChecksum): Promise<void> {
    await verifyGraphFile(path, expected);
    const index = new this.lib.HierarchicalNSW('cosine', this.params.dimensions);
    await index.readIndex(path);
    index.setEf(this.params.efSearch);
    this.index = index;
  }

  async save(path: string): Promise<void> {
    await this.index.writeIndex(path);
  }

  /** Adds `labels.length` points whose vectors are packed one after the other in `vectors`. */
  add(labels: ArrayLike<number>, vectors: Float32Array, from = 0, to = labels.length): void {
    const d = this.params.dimensions;
    const needed = this.index.getCurrentCount() + (to - from);
    if (needed > this.index.getMaxElements())
      this.index.resizeIndex(Math.max(needed, Math.ceil(this.index.getMaxElements() * 1.5)));
    for (let i = from; i < to; i += 1) {
      this.index.addPoint(Array.from(vectors.subarray(i * d, (i + 1) * d)), labels[i] as number);
    }
  }

  search(query: ArrayLike<number>, k: number, visibleBelow: number): ShardHits {
    const count = this.index.getCurrentCount();
    if (count === 0 || k <= 0) return { labels: [], distances: [] };
    const n = Math.min(k, this.index.getMaxElements());
    const point = Array.isArray(query) ? query : Array.from(query);
    const result = Number.isFinite(visibleBelow)
      ? this.index.searchKnn(point, n, (label) => label < visibleBelow)
      : this.index.searchKnn(point, n);
    return { labels: result.neighbors, distances: result.distances };
  }

  /** Hides labels from every later search; labels this graph never held are ignored. Returns how many it held. */
  markDelete(labels: readonly number[]): number {
    let deleted = 0;
    for (const label of labels) {
      try {
        this.index.markDelete(label);
        deleted += 1;
      } catch {
        // not in this graph, or already deleted
      }
    }
    return deleted;
  }

  ids(): number[] {
    return this.index.getIdsList();
  }

  get count(): number {
    return this.index.getCurrentCount();
  }
}
