import { readFile, stat, writeFile } from 'node:fs/promises';
import { sha256File } from './atomic-file.js';
import {
  loadHnswlib,
  type HnswlibBuildMode,
  type HnswlibModule,
  type Int8GraphIndex,
  type Int8GraphModule,
  type LoadedHnswlib,
} from './hnswlib.js';
import { FullVectors, parseProjected, Projection, serializeProjected, writeUnit } from './projection.js';
import { encodeInt8, Int8Scan, isScanFile } from './int8-scan.js';

type Hnsw = InstanceType<HnswlibModule['HierarchicalNSW']>;

/** What a graph's points are stored as: 32-bit floats, or int8 codes of projected points (see {@link GraphParams}). */
export type GraphCodes = 'float32' | 'int8';

/** The operations {@link GraphShard} needs from a graph, whatever its points are stored as (or a scan's). */
interface Graph {
  read(path: string): Promise<void>;
  write(path: string): Promise<void>;
  resize(capacity: number): void;
  readonly count: number;
  readonly capacity: number;
  add(point: number[], label: number): void;
  /** The `n` nearest labels below `visibleBelow` (Infinity: all), closest first. */
  search(point: number[], n: number, visibleBelow: number): { neighbors: number[]; distances: number[] };
  markDelete(label: number): void;
  ids(): number[];
}

/** What hnswlib-node's graph and the int8 addon's have in common, under the same names. */
interface NativeGraph {
  resizeIndex(capacity: number): void;
  getCurrentCount(): number;
  getMaxElements(): number;
  markDelete(label: number): void;
  getIdsList(): number[];
}

/** The {@link Graph} operations that only forward to the native graph. */
abstract class ForwardingGraph<T extends NativeGraph> {
  protected abstract index: T;
  resize(capacity: number) {
    this.index.resizeIndex(capacity);
  }
  get count() {
    return this.index.getCurrentCount();
  }
  get capacity() {
    return this.index.getMaxElements();
  }
  markDelete(label: number) {
    this.index.markDelete(label);
  }
  ids() {
    return this.index.getIdsList();
  }
}

/** hnswlib-node's graph of floats, in cosine space (full vectors) or inner-product space (projections). */
class FloatGraph extends ForwardingGraph<Hnsw> implements Graph {
  protected index: Hnsw;
  constructor(
    private readonly lib: HnswlibModule,
    private readonly space: 'cosine' | 'ip',
    private readonly dimensions: number,
    private readonly params: GraphParams,
    capacity: number,
  ) {
    super();
    this.index = this.create();
    this.index.initIndex({
      maxElements: capacity,
      m: params.m,
      efConstruction: params.efConstruction,
      randomSeed: 100,
    });
    this.index.setEf(params.efSearch);
  }
  private create(): Hnsw {
    return new this.lib.HierarchicalNSW(this.space, this.dimensions);
  }
  async read(path: string) {
    const index = this.create();
    await index.readIndex(path);
    index.setEf(this.params.efSearch);
    this.index = index;
  }
  async write(path: string) {
    await this.index.writeIndex(path);
  }
  add(point: number[], label: number) {
    this.index.addPoint(point, label);
  }
  search(point: number[], n: number, visibleBelow: number) {
    return Number.isFinite(visibleBelow)
      ? this.index.searchKnn(point, n, (label: number) => label < visibleBelow)
      : this.index.searchKnn(point, n);
  }
}

/**
 * A graph of projected points stored as int8 codes (our addon, `native/int8-graph.cc`): each value times the
 * projection's {@link Projection.scale}, rounded and clamped to ±127. A quarter of the memory of floats, so the
 * graphs of both worker threads stay in the CPU's cache together; the candidates are re-ranked on the full vectors
 * as for a float graph.
 */
class Int8Graph extends ForwardingGraph<Int8GraphIndex> implements Graph {
  protected index: Int8GraphIndex;
  private readonly code: Int8Array;
  private readonly label = new Float64Array(1);
  constructor(
    private readonly lib: Int8GraphModule,
    private readonly dimensions: number,
    private readonly params: GraphParams,
    capacity: number,
    /** The scale of the shard's projection as it is now (0 before one is fitted or loaded). */
    private readonly scale: () => number,
  ) {
    super();
    this.code = new Int8Array(dimensions);
    this.index = new lib.Int8Graph(dimensions);
    this.index.initIndex(capacity, params.m, params.efConstruction, 100);
    this.index.setEf(params.efSearch);
  }
  private encode(point: number[]): Int8Array {
    return encodeInt8(point, this.scale(), this.code);
  }
  async read(path: string) {
    const index = new this.lib.Int8Graph(this.dimensions);
    index.readIndex(path, 0);
    index.setEf(this.params.efSearch);
    this.index = index;
  }
  async write(path: string) {
    this.index.writeIndex(path);
  }
  add(point: number[], label: number) {
    this.label[0] = label;
    this.index.addPoints(this.encode(point), this.label);
  }
  /** Adds points already encoded: `labels.length` rows of codes. */
  addCodes(codes: Int8Array, labels: Float64Array) {
    this.index.addPoints(codes, labels);
  }
  search(point: number[], n: number, visibleBelow: number) {
    return this.index.searchKnn(this.encode(point), n, visibleBelow);
  }
}

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
  /**
   * `int8`: a projected graph stores int8 codes, with the int8 addon made at install (it must have loaded, see
   * {@link LoadedHnswlib.int8}). Absent or `float32`: floats. A graph on full vectors always stores floats.
   */
  codes?: GraphCodes;
  /**
   * With int8 codes: up to this many points, the shard keeps them in an {@link Int8Scan} and answers by comparing
   * the query with each, with no graph built; past it, a graph is built from the scan's codes ({@link
   * GraphShard.catchUp}). 0 or absent: always a graph.
   */
  scanLimit?: number;
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
  private index: Graph;
  private readonly lib: LoadedHnswlib;
  private readonly graphDimensions: number;
  private projection: Projection | undefined;
  private full: FullVectors | undefined;
  /** The graph being built from the scan's codes, once the scan outgrew its limit. */
  private building: Int8Graph | undefined;

  constructor(private readonly params: GraphParams) {
    this.lib = loadHnswlib(params.build);
    if (this.int8 && !this.lib.int8)
      throw new Error('int8 graphs asked for, but the int8 addon did not load');
    this.graphDimensions = Math.min(params.graphDimensions ?? params.dimensions, params.dimensions);
    this.index = this.fresh(16);
  }

  /** Whether the graph is built on projected vectors (and saves a vectors file beside its graph file). */
  get projected(): boolean {
    return isProjected(this.params);
  }

  /** Whether the graph stores int8 codes of its projected points. */
  private get int8(): boolean {
    return this.projected && this.params.codes === 'int8';
  }

  /** Points an int8 shard keeps in a scan before it builds a graph (0: none). */
  private get scanLimit(): number {
    return this.int8 ? (this.params.scanLimit ?? 0) : 0;
  }

  private create(capacity: number, scan = capacity <= this.scanLimit): Graph {
    const n = Math.max(capacity, 16);
    if (this.int8) {
      const lib = this.lib.int8 as Int8GraphModule;
      const scale = () => this.projection?.scale ?? 0;
      return scan
        ? new Int8Scan(lib, this.graphDimensions, n, scale)
        : new Int8Graph(lib, this.graphDimensions, this.params, n, scale);
    }
    return new FloatGraph(
      this.lib.lib,
      this.projected ? 'ip' : 'cosine',
      this.graphDimensions,
      this.params,
      n,
    );
  }

  private fresh(capacity: number): Graph {
    this.projection = undefined;
    this.building = undefined;
    this.full = this.projected ? new FullVectors(this.params.dimensions, capacity) : undefined;
    return this.create(capacity);
  }

  /** Starts the graph that replaces a scan grown past {@link GraphParams.scanLimit}: {@link catchUp} fills it. */
  private outgrow(): void {
    if (this.building || !(this.index instanceof Int8Scan) || this.index.count <= this.scanLimit) return;
    this.building = this.create(this.index.capacity, false) as Int8Graph;
  }

  /** Whether the graph being built from the scan already took the point of `label`. */
  private taken(label: number): boolean {
    if (!this.building || !(this.index instanceof Int8Scan)) return false;
    return (this.index.rowOfLabel(label) ?? Infinity) < this.building.count;
  }

  /** Points of the scan the graph being built from it still lacks (0 when no graph is being built). */
  get backlog(): number {
    return this.building ? this.index.count - this.building.count : 0;
  }

  /**
   * Adds up to `max` of the scan's points to the graph being built from it, in the order they came, deletions
   * included; once it holds them all it replaces the scan. Returns the {@link backlog} left. Searches use the scan
   * until then, so the caller runs this in steps and lets other work in between.
   */
  catchUp(max: number): number {
    const graph = this.building;
    const scan = this.index;
    if (!graph || !(scan instanceof Int8Scan)) return 0;
    const from = graph.count;
    const to = Math.min(scan.count, from + max);
    if (to > graph.capacity) graph.resize(Math.max(to, scan.capacity));
    const rows = scan.slice(from, to);
    graph.addCodes(rows.codes, rows.labels);
    rows.deleted.forEach((deleted, i) => {
      if (deleted) graph.markDelete(rows.labels[i] as number);
    });
    if (to < scan.count) return scan.count - to;
    this.index = graph;
    this.building = undefined;
    return 0;
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
    // A graph saved before any point came has no fitted projection: the first points after loading fit one.
    const projection = restored && restored.full.count > 0 ? restored.projection : undefined;
    if (this.int8 && projection && !(projection.scale > 0))
      throw new CorruptGraphError(`${vectors?.path ?? graph.path} has no int8 scale`);
    const scan = await isScanFile(graph.path);
    if (scan && !this.int8)
      throw new CorruptGraphError(`${graph.path} is an int8 scan, not a graph of floats`);
    const index = this.create(16, scan);
    try {
      await index.read(graph.path);
    } catch (err) {
      throw new CorruptGraphError(`${graph.path}: ${(err as Error).message}`);
    }
    this.index = index;
    this.building = undefined;
    this.projection = projection;
    this.full = restored?.full;
    this.outgrow();
  }

  async save(path: string): Promise<void> {
    await this.index.write(path);
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
    const needed = this.index.count + (to - from);
    if (needed > this.index.capacity)
      this.index.resize(Math.max(needed, Math.ceil(this.index.capacity * 1.5)));
    if (!this.full) {
      for (let i = from; i < to; i += 1)
        this.index.add(Array.from(vectors.subarray(i * d, (i + 1) * d)), labels[i] as number);
      return;
    }
    this.projection ??= Projection.fit(vectors, d, this.graphDimensions);
    this.full.reserve(to - from);
    const unit = new Float32Array(d);
    for (let i = from; i < to; i += 1) {
      const label = labels[i] as number;
      this.full.add(label, vectors, i * d, unit);
      this.index.add(this.projection.apply(unit), label);
    }
    this.outgrow();
  }

  search(query: ArrayLike<number>, k: number, visibleBelow: number): ShardHits {
    const count = this.index.count;
    if (count === 0 || k <= 0) return { labels: [], distances: [] };
    if (!this.full || !this.projection) {
      const n = Math.min(k, this.index.capacity);
      const point = Array.isArray(query) ? query : Array.from(query);
      const result = this.index.search(point, n, visibleBelow);
      return { labels: result.neighbors, distances: result.distances };
    }
    const unit = new Float32Array(this.params.dimensions);
    writeUnit(query, 0, unit.length, unit);
    const point = this.projection.apply(unit);
    const n = Math.min(Math.max(k, this.params.rerank ?? k), this.index.capacity);
    const candidates = this.index.search(point, n, visibleBelow);
    const labels = candidates.neighbors;
    const similarities = this.full.similarities(labels, unit, this.lib.int8?.dotRows);
    const ranked = labels
      .map((_, i) => i)
      .sort((a, b) => (similarities[b] as number) - (similarities[a] as number))
      .slice(0, k);
    return {
      labels: ranked.map((i) => labels[i] as number),
      distances: ranked.map((i) => 1 - (similarities[i] as number)),
    };
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
        continue;
      }
      if (this.taken(label)) this.building?.markDelete(label);
    }
    return deleted;
  }

  ids(): number[] {
    return this.index.ids();
  }

  get count(): number {
    return this.index.count;
  }
}
