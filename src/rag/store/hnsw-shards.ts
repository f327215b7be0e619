import { siblingModule, WorkerClient, WorkerError } from '../workers.js';
import {
  CorruptGraphError,
  GraphShard,
  isProjected,
  type GraphParams,
  type SavedFile,
  type ShardHits,
} from './hnsw-shard.js';
import { createPacer, yieldToEventLoop } from '../pacing.js';

/** A request to a graph kept in a worker thread. */
export type ShardRequest =
  | { op: 'reset'; capacity: number }
  | { op: 'load'; graph: SavedFile; vectors?: SavedFile }
  | { op: 'save'; path: string }
  | { op: 'saveVectors'; path: string }
  | { op: 'add'; labels: Float64Array; vectors: Float32Array }
  | { op: 'search'; query: Float32Array; k: number; visibleBelow: number }
  | { op: 'markDelete'; labels: number[] }
  | { op: 'ids' }
  | { op: 'count' };

interface Shard {
  reset(capacity: number): Promise<void>;
  load(graph: SavedFile, vectors?: SavedFile): Promise<void>;
  save(path: string): Promise<void>;
  saveVectors(path: string): Promise<void>;
  /** Adds the points; the caller refills `labels` and `vectors` once the promise settles, so neither is kept. */
  add(labels: Float64Array, vectors: Float32Array): Promise<void>;
  search(query: Float32Array, k: number, visibleBelow: number): Promise<ShardHits>;
  markDelete(labels: number[]): Promise<number>;
  ids(): Promise<number[]>;
  count(): Promise<number>;
  close(): Promise<void>;
}

/** A graph on the calling thread: no messaging cost, and insertion yields to the event loop every 100 points. */
class InlineShard implements Shard {
  private readonly graph: GraphShard;
  constructor(params: GraphParams) {
    this.graph = new GraphShard(params);
  }
  async reset(capacity: number) {
    this.graph.reset(capacity);
  }
  async load(graph: SavedFile, vectors?: SavedFile) {
    await this.graph.load(graph, vectors);
    await this.catchUp();
  }
  save(path: string) {
    return this.graph.save(path);
  }
  saveVectors(path: string) {
    return this.graph.saveVectors(path);
  }
  async add(labels: Float64Array, vectors: Float32Array) {
    for (let from = 0; from < labels.length; from += 100) {
      this.graph.add(labels, vectors, from, Math.min(labels.length, from + 100));
      await yieldToEventLoop();
    }
    await this.catchUp();
  }
  /** Builds the graph that replaces an outgrown scan, 100 points at a time. */
  private async catchUp() {
    while (this.graph.catchUp(100) > 0) await yieldToEventLoop();
  }
  async search(query: Float32Array, k: number, visibleBelow: number) {
    return this.graph.search(query, k, visibleBelow);
  }
  async markDelete(labels: number[]) {
    return this.graph.markDelete(labels);
  }
  async ids() {
    return this.graph.ids();
  }
  async count() {
    return this.graph.count;
  }
  async close() {}
}

/** A graph in a worker thread: built and searched there, so the event loop never waits on hnswlib. */
class WorkerShard implements Shard {
  private readonly client: WorkerClient;

  constructor(params: GraphParams) {
    this.client = new WorkerClient(siblingModule('hnsw-worker', import.meta.url), params);
  }

  private async call<T>(request: ShardRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    try {
      return await this.client.call<T>(request, transfer);
    } catch (err) {
      if (err instanceof WorkerError && err.remoteName === 'CorruptGraphError')
        throw new CorruptGraphError(err.message);
      throw err;
    }
  }

  reset(capacity: number) {
    return this.call<void>({ op: 'reset', capacity });
  }
  load(graph: SavedFile, vectors?: SavedFile) {
    return this.call<void>({ op: 'load', graph, ...(vectors ? { vectors } : {}) });
  }
  save(path: string) {
    return this.call<void>({ op: 'save', path });
  }
  saveVectors(path: string) {
    return this.call<void>({ op: 'saveVectors', path });
  }
  async add(labels: Float64Array, vectors: Float32Array) {
    // Copied, not transferred: the caller refills the same arrays for the next batch.
    await this.call<number>({ op: 'add', labels, vectors });
  }
  search(query: Float32Array, k: number, visibleBelow: number) {
    return this.call<ShardHits>({ op: 'search', query, k, visibleBelow });
  }
  markDelete(labels: number[]) {
    return this.call<number>({ op: 'markDelete', labels });
  }
  ids() {
    return this.call<number[]>({ op: 'ids' });
  }
  count() {
    return this.call<number>({ op: 'count' });
  }
  close() {
    return this.client.close();
  }
}

/** Where the graphs live: `threads` 0 keeps one graph on the main thread, n > 0 one graph per worker thread. */
export interface GraphLayout {
  threads: number;
}

/** A point to index: its label and vector. */
export interface IndexPoint {
  label: number;
  vector: Float32Array;
}

/** Points sent to a worker per message while building. */
const ADD_BATCH = 2048;

/**
 * The vector index as one or several hnswlib graphs searched together. With worker threads, label `l` lives in graph
 * `l % n`: graphs are built in parallel (one per core), searched in parallel, and the results merged by distance, so
 * the event loop only posts messages. One graph on the main thread suits small corpora, where a message costs more
 * than a search.
 */
export class ShardedIndex {
  private constructor(
    readonly layout: GraphLayout,
    private readonly shards: Shard[],
    private readonly dimensions: number,
    /** Whether the graphs are built on projected vectors, each with a vectors file beside its graph file. */
    readonly projected: boolean,
  ) {}

  static create(params: GraphParams, layout: GraphLayout): ShardedIndex {
    const shards: Shard[] =
      layout.threads > 0
        ? Array.from({ length: layout.threads }, () => new WorkerShard(params))
        : [new InlineShard(params)];
    return new ShardedIndex(layout, shards, params.dimensions, isProjected(params));
  }

  get graphCount(): number {
    return this.shards.length;
  }

  private shardOf(label: number): number {
    return label % this.shards.length;
  }

  async reset(capacity: number): Promise<void> {
    const per = Math.ceil(capacity / this.shards.length);
    await Promise.all(this.shards.map((s) => s.reset(per)));
  }

  /** Loads every graph from `files` (one per graph), each file checked against its checksum first. */
  async load(files: readonly { graph: SavedFile; vectors?: SavedFile }[]): Promise<void> {
    if (files.length !== this.shards.length)
      throw new CorruptGraphError(`${files.length} graph files for ${this.shards.length} graphs`);
    // Every load settles before a failure is reported: the caller then closes the workers, and a worker stopped while
    // hnswlib is still reading a file in the background aborts the whole process.
    const results = await Promise.allSettled(
      this.shards.map((s, i) => s.load(files[i]!.graph, files[i]!.vectors)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Saves graph `i` to `path`. */
  saveGraph(i: number, path: string): Promise<void> {
    const shard = this.shards[i];
    if (!shard) throw new RangeError(`no graph ${i}`);
    return shard.save(path);
  }

  /** Saves the projection and full vectors of projected graph `i` to `path`. */
  saveVectors(i: number, path: string): Promise<void> {
    const shard = this.shards[i];
    if (!shard) throw new RangeError(`no graph ${i}`);
    return shard.saveVectors(path);
  }

  /** Adds points, all graphs at once; `onProgress` gets the number of points indexed so far. */
  async add(points: readonly IndexPoint[], onProgress?: (done: number) => void): Promise<void> {
    const d = this.dimensions;
    const groups = this.shards.map(() => [] as IndexPoint[]);
    // Paced: dealing a million points out to the graphs held the event loop 440-610 ms.
    const pacer = createPacer();
    for (const p of points) {
      groups[this.shardOf(p.label)]!.push(p);
      const pause = pacer.tick();
      if (pause) await pause;
    }
    let done = 0;
    await Promise.all(
      this.shards.map(async (shard, s) => {
        const group = groups[s] as IndexPoint[];
        // One pair of arrays per graph, refilled for each batch: a new pair per batch was 1 GB of array buffers
        // allocated on the event loop at a million points, each counted towards V8's external-memory collections.
        const size = Math.min(ADD_BATCH, group.length);
        const labels = new Float64Array(size);
        const vectors = new Float32Array(size * d);
        for (let from = 0; from < group.length; from += ADD_BATCH) {
          const count = Math.min(ADD_BATCH, group.length - from);
          for (let i = 0; i < count; i += 1) {
            const p = group[from + i] as IndexPoint;
            labels[i] = p.label;
            vectors.set(p.vector, i * d);
          }
          await shard.add(labels.subarray(0, count), vectors.subarray(0, count * d));
          done += count;
          onProgress?.(done);
        }
      }),
    );
  }

  /** The `k` nearest labels over every graph, closest first; labels at or above `visibleBelow` are skipped. */
  async search(query: ArrayLike<number>, k: number, visibleBelow = Infinity): Promise<ShardHits> {
    const vector = Float32Array.from(query);
    const parts = await Promise.all(this.shards.map((s) => s.search(vector, k, visibleBelow)));
    if (parts.length === 1) return parts[0] as ShardHits;
    const merged = parts.flatMap((p) =>
      p.labels.map((label, i) => ({ label, distance: p.distances[i] as number })),
    );
    merged.sort((a, b) => a.distance - b.distance);
    const top = merged.slice(0, k);
    return { labels: top.map((h) => h.label), distances: top.map((h) => h.distance) };
  }

  /** Hides labels from later searches; returns how many the graphs held. */
  async markDelete(labels: readonly number[]): Promise<number> {
    const groups = this.shards.map(() => [] as number[]);
    for (const label of labels) groups[this.shardOf(label)]!.push(label);
    const counts = await Promise.all(this.shards.map((s, i) => s.markDelete(groups[i] as number[])));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Every label the graphs hold, deleted ones included. */
  async ids(): Promise<number[]> {
    return (await Promise.all(this.shards.map((s) => s.ids()))).flat();
  }

  /** Points in the graphs, deleted ones included. */
  async count(): Promise<number> {
    return (await Promise.all(this.shards.map((s) => s.count()))).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}
