import { readFile, stat, writeFile } from 'node:fs/promises';
import { sha256File } from './atomic-file.js';
import { loadHnswlib, type HnswlibBuildMode, type HnswlibModule } from './hnswlib.js';
import { FullVectors, parseProjected, Projection, serializeProjected, writeUnit } from './projection.js';

type Hnsw = InstanceType<HnswlibModule['HierarchicalNSW']>;

/** How one hnsw graph is built and searched. */
export interface GraphParams {
  dimensions: number;
  /**
   * Dimensions the graph is built on. Fewer than `dimensions`: on a {@link Projection} of the vectors fitted to the
   * first points added, with each search's candidates re-ranked on the full vectors. Absent: the vectors themselves.
   */
  graphDimensions?: number;
  /** Candidates a projected graph returns for re-ranking, at least `k`. */
  rerank?: number;
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

/** Whether graphs of `params` are built on projected vectors (fewer graph dimensions than vector dimensions). */
export function isProjected(params: GraphParams): boolean {
  return (params.graphDimensions ?? params.dimensions) < params.dimensions;
}

/** A saved file and the size and SHA-256 it must have. */
export interface SavedFile {
  path: string;
  expected: FileChecksum;
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
 *
 * A projected graph (`graphDimensions` below `dimensions`) holds the projections of the vectors, in inner-product
 * space, and keeps the full unit vectors beside it: a search takes `rerank` candidates from the graph and orders
 * them by their exact cosine distance, which is what it returns.
 */
export class GraphShard {
  private index: Hnsw;
  private readonly lib: HnswlibModule;
  private readonly graphDimensions: number;
  private projection: Projection | undefined;
  private full: FullVectors | undefined;

  constructor(private readonly params: GraphParams) {
    this.lib = loadHnswlib(params.build).lib;
    this.graphDimensions = Math.min(params.graphDimensions ?? params.dimensions, params.dimensions);
    this.index = this.fresh(16);
  }

  /** Whether the graph is built on projected vectors (and saves a vectors file beside its graph file). */
  get projected(): boolean {
    return isProjected(this.params);
  }

  private create(): Hnsw {
    return new this.lib.HierarchicalNSW(this.projected ? 'ip' : 'cosine', this.graphDimensions);
  }

  private fresh(capacity: number): Hnsw {
    const index = this.create();
    index.initIndex({
      maxElements: Math.max(capacity, 16),
      m: this.params.m,
      efConstruction: this.params.efConstruction,
      randomSeed: 100,
    });
    index.setEf(this.params.efSearch);
    this.projection = undefined;
    this.full = this.projected ? new FullVectors(this.params.dimensions, capacity) : undefined;
    return index;
  }

  reset(capacity: number): void {
    this.index = this.fresh(capacity);
  }

  /**
   * Replaces the graph with a saved one, after checking each file against its checksum; a projected graph also
   * needs its vectors file.
   */
  async load(graph: SavedFile, vectors?: SavedFile): Promise<void> {
    await verifyGraphFile(graph.path, graph.expected);
    let restored: { projection: Projection; full: FullVectors } | undefined;
    if (this.projected) {
      if (!vectors) throw new CorruptGraphError(`${graph.path} has no vectors file`);
      await verifyGraphFile(vectors.path, vectors.expected);
      try {
        restored = parseProjected(await readFile(vectors.path), this.params.dimensions, this.graphDimensions);
      } catch (err) {
        throw new CorruptGraphError(`${vectors.path}: ${(err as Error).message}`);
      }
    }
    const index = this.create();
    await index.readIndex(graph.path);
    index.setEf(this.params.efSearch);
    this.index = index;
    // A graph saved before any point came has no fitted projection: the first points after loading fit one.
    this.projection = restored && restored.full.count > 0 ? restored.projection : undefined;
    this.full = restored?.full;
  }

  async save(path: string): Promise<void> {
    await this.index.writeIndex(path);
  }

  /** Writes a projected graph's projection and full vectors to `path`. */
  async saveVectors(path: string): Promise<void> {
    if (!this.full) throw new Error('only a projected graph has a vectors file');
    // A graph that never received a point has no projection: zeros stand in, and loading it refits (see load).
    const { dimensions } = this.params;
    const projection =
      this.projection ??
      Projection.of(dimensions, this.graphDimensions, new Float32Array(dimensions * this.graphDimensions));
    await writeFile(path, serializeProjected(projection, this.full));
  }

  /**
   * Adds `labels.length` points whose vectors are packed one after the other in `vectors`. A projected graph
   * without a projection yet fits it on every vector of the call first.
   */
  add(labels: ArrayLike<number>, vectors: Float32Array, from = 0, to = labels.length): void {
    const d = this.params.dimensions;
    const needed = this.index.getCurrentCount() + (to - from);
    if (needed > this.index.getMaxElements())
      this.index.resizeIndex(Math.max(needed, Math.ceil(this.index.getMaxElements() * 1.5)));
    if (!this.full) {
      for (let i = from; i < to; i += 1)
        this.index.addPoint(Array.from(vectors.subarray(i * d, (i + 1) * d)), labels[i] as number);
      return;
    }
    this.projection ??= Projection.fit(vectors, d, this.graphDimensions);
    this.full.reserve(to - from);
    const unit = new Float32Array(d);
    for (let i = from; i < to; i += 1) {
      this.full.add(labels[i] as number, vectors, i * d, unit);
      this.index.addPoint(this.projection.apply(unit), labels[i] as number);
    }
  }

  search(query: ArrayLike<number>, k: number, visibleBelow: number): ShardHits {
    const count = this.index.getCurrentCount();
    if (count === 0 || k <= 0) return { labels: [], distances: [] };
    const filter = Number.isFinite(visibleBelow) ? (label: number) => label < visibleBelow : undefined;
    if (!this.full || !this.projection) {
      const n = Math.min(k, this.index.getMaxElements());
      const point = Array.isArray(query) ? query : Array.from(query);
      const result = filter ? this.index.searchKnn(point, n, filter) : this.index.searchKnn(point, n);
      return { labels: result.neighbors, distances: result.distances };
    }
    const unit = new Float32Array(this.params.dimensions);
    writeUnit(query, 0, unit.length, unit);
    const point = this.projection.apply(unit);
    const n = Math.min(Math.max(k, this.params.rerank ?? k), this.index.getMaxElements());
    const candidates = filter ? this.index.searchKnn(point, n, filter) : this.index.searchKnn(point, n);
    const full = this.full;
    const ranked = candidates.neighbors
      .map((label) => ({ label, distance: 1 - full.similarity(label, unit) }))
      .sort((a, b) => a.distance - b.distance)
      .slice(0, k);
    return { labels: ranked.map((h) => h.label), distances: ranked.map((h) => h.distance) };
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
