import { createHash, hash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import { VectorStore } from '@langchain/core/vectorstores';
import type { Logger } from '../../logger.js';
import { createPacer, yieldToEventLoop } from '../pacing.js';
import { CHUNKER_VERSION, chunkDocument } from '../chunking/index.js';
import type { VerbatimEmbeddings } from '../embeddings/types.js';
import type { ChunkRecord, SourceDocument } from '../types.js';
import { publishAtomically, sha256File } from './atomic-file.js';
import { DatabaseWorker } from './background-database.js';
import {
  sentenceSpans,
  toStoredDocument,
  type CorpusDatabase,
  type StoredChunk,
  type StoredDocument,
} from './database.js';
import { CorruptGraphError, type FileChecksum, type GraphCodes } from './hnsw-shard.js';
import { ShardedIndex, type GraphLayout, type IndexPoint } from './hnsw-shards.js';
import { LayeredMap } from './layered-map.js';
import { mergeById, sortById } from './sorted-documents.js';
import { ShardedMap, ShardedSet } from '../sharded-map.js';
import { loadHnswlib, type HnswlibBuildMode } from './hnswlib.js';
import { openCheckedDatabase, walBytes } from './open-database.js';
import { LexicalIndex, type Bm25Kernel, type LexicalHit } from './lexical.js';
import {
  CorpusHasher,
  corpusHash,
  readManifest,
  writeManifest,
  type HnswParams,
  type IndexManifest,
} from './manifest.js';

/** Progress of a corpus update, for progress bars. */
export interface SyncProgress {
  phase: 'embedding' | 'indexing';
  done: number;
  total: number;
}

/** What a corpus update did. */
export interface SyncReport {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  /** Chunks embedded by this update (chunks whose text was already embedded are reused). */
  chunksEmbedded: number;
  /** Chunks in the index after the update. */
  chunks: number;
  durationMs: number;
  /** Where the time went, in milliseconds. */
  stages: {
    chunkingMs: number;
    embeddingMs: number;
    storingMs: number;
    indexingMs: number;
    persistingMs: number;
  };
  /** True when the whole index was rebuilt (embedder or chunker changed). */
  rebuilt: boolean;
}

/** Options of {@link HnswVectorStore.open}. */
export interface HnswStoreOptions {
  dataDir: string;
  embeddings: VerbatimEmbeddings;
  logger: Logger;
  hnsw?: Partial<Omit<HnswParams, 'space'>>;
  /** Share of deleted slots above which the hnsw index is rebuilt to free them. */
  maxDeletedRatio?: number;
  /** Texts embedded per call to the embeddings model; the event loop runs between calls. */
  embedBatchSize?: number;
  /**
   * Wait after a change before writing the hnsw file (0: write at once). Several quick changes then cost one write
   * of the whole index instead of one each; the database is already committed, and an index file left behind by a
   * crash is caught up from it on the next start.
   */
  persistDelayMs?: number;
  /**
   * Worker threads for a large index: one hnsw graph each, built and searched in parallel (0: always one graph on
   * the main thread). Defaults to the number of cores.
   */
  threads?: number;
  /** Chunks from which the graphs move to worker threads; below it one graph on the main thread answers faster. */
  parallelMinChunks?: number;
  /** Which hnswlib build to load: the fastest this CPU runs (`auto`, the default) or the package's own. */
  hnswBuild?: HnswlibBuildMode;
  /**
   * Whether projected graphs store int8 codes when the int8 addon made at install loads (`true`, the default), or
   * always floats.
   */
  int8Graphs?: boolean;
  /**
   * Dimensions the graphs of worker threads are built on (see {@link GraphParams.graphDimensions}): 0 builds them on
   * the full vectors; absent, {@link defaultGraphDimensions}. One graph on the main thread always holds full vectors.
   */
  graphDimensions?: number;
  /**
   * With int8 codes (see {@link int8Graphs}): points a worker graph keeps as a plain array of codes, answered by
   * comparing the query with each, before a graph is built from them (see {@link GraphParams.scanLimit}); 0 always
   * builds a graph. Defaults to {@link DEFAULT_SCAN_LIMIT}.
   */
  scanLimit?: number;
}

/**
 * Dimensions a projected graph keeps by default: 8·√d rounded up to a multiple of 32 (128 of 256, 192 of 512, 256
 * of 1024). Measured on 50k chunks of the local embedder, re-ranked at ef 400: recall@10 within 0.003 of the graph
 * on full vectors, the graph alone built 1.7 (256) to 3.5 (1024) times faster. A quarter of 512 (128) lost 0.024.
 */
export function defaultGraphDimensions(dimensions: number): number {
  return Math.min(dimensions, Math.ceil((8 * Math.sqrt(dimensions)) / 32) * 32);
}

interface Snapshot {
  generation: number;
  corpusHash: string;
  records: LayeredMap<number, ChunkRecord>;
  documents: LayeredMap<string, StoredDocument>;
  chunkCounts: LayeredMap<string, number>;
  /** Labels at or above this are not served yet (every label the snapshot serves is below it). */
  labelLimit: number;
  /** The same documents sorted by id, kept up to date by each change (a merge, not a sort of the corpus). */
  sorted: readonly StoredDocument[];
}

/** Files from this size are hashed by the database worker; smaller ones cost less than starting it. */
const BACKGROUND_HASH_MIN_BYTES = 32 * 1024 * 1024;

/** SHA-256 and size of a file written by a save: a large one is hashed in `background`, off the event loop. */
async function fileChecksum(path: string, background: DatabaseWorker): Promise<FileChecksum> {
  const bytes = (await stat(path)).size;
  if (bytes >= BACKGROUND_HASH_MIN_BYTES) return background.checksum(path);
  return { sha256: await sha256File(path), bytes };
}

function countChunks(records: ShardedMap<number, ChunkRecord>): ShardedMap<string, number> {
  const counts = new ShardedMap<string, number>();
  for (const r of records.values()) counts.set(r.docId, (counts.get(r.docId) ?? 0) + 1);
  return counts;
}

const graphFile = (i: number) => `index-${i}.hnsw`;
const vectorsFile = (i: number) => `index-${i}.vectors`;
const GRAPH_FILE = /^index(?:-\d+)?\.(?:hnsw|vectors)$/;
const MANIFEST_FILE = 'manifest.json';
const LEXICAL_FILE = 'lexical.bin';
const DATABASE_FILE = 'corpus.sqlite';
const DEFAULT_HNSW = { m: 24, efConstruction: 64, efSearch: 400, rerank: 50 };
const DEFAULT_PARALLEL_MIN_CHUNKS = 20_000;

/** Points per worker below which an int8 graph is a scan of its codes (see {@link HnswStoreOptions.scanLimit}). */
export const DEFAULT_SCAN_LIMIT = 100_000;
/** Changes of at least this many rows are written by the database worker; smaller ones cost less than a message. */
const BACKGROUND_WRITE_MIN_ROWS = 2000;
/** Stands in for a chunk's vector until its embedding is known. */
const NO_VECTOR = new Float32Array(0);

function sha256(text: string): string {
  return hash('sha256', text);
}

/**
 * Built field by field: rest-and-spread copies cost 0.8 s of the event loop at 100k chunks. The text is a slice of
 * the document's (V8 keeps a reference and two offsets) and the strings come from the document, so a loaded record
 * holds no copy of its own: 0.5 GB less heap at 1M chunks than the texts read from the database.
 */
function toRecord(chunk: StoredChunk, doc: StoredDocument): ChunkRecord {
  return {
    id: chunk.id,
    docId: doc.id,
    index: chunk.index,
    start: chunk.start,
    end: chunk.end,
    text: doc.text.slice(chunk.start, chunk.end),
    firstSentence: chunk.firstSentence,
    lastSentence: chunk.lastSentence,
    title: doc.title,
    url: doc.url,
    source: doc.source,
    date: doc.date,
    language: doc.language,
  };
}

/**
 * The index: documents, chunks and vectors in SQLite (the durable truth), hnswlib-node graphs derived from them,
 * and a BM25 index over the same chunks, exposed through LangChain's `VectorStore`.
 *
 * Graphs: a small index is one graph on the main thread; from `parallelMinChunks` chunks it is one graph per worker
 * thread, built and searched in parallel (see {@link ShardedIndex}). The layout is chosen when the graphs are built
 * from scratch (first ingest, a change larger than the index, compaction, damage) and recorded in the manifest.
 *
 * Concurrency: every change runs under one writer lock. Queries read an immutable snapshot (served labels and
 * documents); a change adds its points while they are hidden from searches (labels at or above the snapshot's
 * `labelLimit`), then swaps the snapshot in one assignment, then deletes the old points. A reader therefore sees
 * either the old corpus or the new one, never a mix.
 *
 * Durability: the SQLite transaction commits first; then the hnsw files, the BM25 file and the manifest are
 * published atomically. Every file is checked against the manifest's size and SHA-256 before it is parsed; a file
 * that does not match is rebuilt from the stored vectors (no re-embedding), and a sound one a few changes behind the
 * database is caught up from it.
 */
export class HnswVectorStore extends VectorStore {
  declare FilterType: (record: ChunkRecord) => boolean;
  override embeddings: VerbatimEmbeddings;

  private readonly db: CorpusDatabase;
  private readonly background: DatabaseWorker;
  private readonly logger: Logger;
  private readonly dataDir: string;
  private readonly paths: { manifest: string; lexical: string };
  private readonly params: HnswParams;
  private readonly hnswBuild: HnswlibBuildMode;
  /** What projected graphs store: int8 codes when asked for and the addon loaded, floats otherwise. */
  private readonly projectedCodes: GraphCodes;
  private readonly maxDeletedRatio: number;
  private readonly embedBatchSize: number;
  private readonly persistDelayMs: number;
  private readonly threads: number;
  private readonly parallelMinChunks: number;
  private readonly scanLimit: number;
  private readonly graphDimensions: number;
  private persistTimer: NodeJS.Timeout | undefined;
  private index: ShardedIndex;
  /** Points in the graphs, deleted ones included. */
  private points = 0;
  /** Native BM25 scoring from the int8 addon, when it loaded (the JavaScript loop otherwise). */
  private readonly bm25Kernel: Bm25Kernel | undefined;
  private lexical: LexicalIndex;
  private snapshot: Snapshot;
  private deletedSlots = 0;
  private writeLock: Promise<unknown> = Promise.resolve();
  private currentManifest: IndexManifest | undefined;
  private needsFullRebuild = false;
  /** True while the graphs hold points of a change that the served snapshot does not include yet. */
  private hiddenPoints = false;

  private constructor(options: HnswStoreOptions, db: CorpusDatabase) {
    super(options.embeddings, {});
    this.embeddings = options.embeddings;
    this.db = db;
    this.background = new DatabaseWorker(join(options.dataDir, DATABASE_FILE));
    this.logger = options.logger;
    this.dataDir = options.dataDir;
    this.paths = {
      manifest: join(options.dataDir, MANIFEST_FILE),
      lexical: join(options.dataDir, LEXICAL_FILE),
    };
    this.params = { space: 'cosine', ...DEFAULT_HNSW, ...options.hnsw };
    this.maxDeletedRatio = options.maxDeletedRatio ?? 0.25;
    this.embedBatchSize = options.embedBatchSize ?? 64;
    this.persistDelayMs = options.persistDelayMs ?? 0;
    this.threads = options.threads ?? availableParallelism();
    this.parallelMinChunks = options.parallelMinChunks ?? DEFAULT_PARALLEL_MIN_CHUNKS;
    this.scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT;
    this.hnswBuild = options.hnswBuild ?? 'auto';
    const dims = options.embeddings.dimensions;
    const graphDimensions = options.graphDimensions ?? defaultGraphDimensions(dims);
    this.graphDimensions = graphDimensions > 0 ? Math.min(graphDimensions, dims) : dims;
    const { choice, int8 } = loadHnswlib(this.hnswBuild);
    this.projectedCodes = options.int8Graphs !== false && int8 ? 'int8' : 'float32';
    this.bm25Kernel = int8?.bm25TopK;
    this.lexical = new LexicalIndex({ kernel: this.bm25Kernel });
    this.logger.info(
      {
        hnswlib: choice.build,
        reason: choice.reason,
        projectedGraphs: this.projectedCodes,
        bm25: this.bm25Kernel ? 'native' : 'javascript',
      },
      'hnswlib build',
    );
    this.index = this.createIndex({ threads: 0 });
    this.snapshot = {
      generation: 0,
      corpusHash: corpusHash([]),
      records: LayeredMap.of(),
      documents: LayeredMap.of(),
      chunkCounts: LayeredMap.of(),
      labelLimit: 0,
      sorted: [],
    };
  }

  _vectorstoreType(): string {
    return 'verbatim-hnsw-sqlite';
  }

  /**
   * Opens (or creates) the store in `dataDir`. The manifest is checked against the embedder and chunker: on a
   * mismatch the stored corpus is dropped and the next {@link sync} re-embeds everything. A missing, truncated or
   * corrupted index file is rebuilt from the stored vectors.
   */
  static async open(options: HnswStoreOptions): Promise<HnswVectorStore> {
    await mkdir(options.dataDir, { recursive: true });
    const manifest = await readManifest(join(options.dataDir, MANIFEST_FILE));
    const derived = [
      MANIFEST_FILE,
      LEXICAL_FILE,
      ...(await readdir(options.dataDir)).filter((f) => GRAPH_FILE.test(f)),
    ];
    const { db, damaged } = await openCheckedDatabase(
      join(options.dataDir, DATABASE_FILE),
      manifest,
      derived.map((f) => join(options.dataDir, f)),
      options.logger,
    );
    const store = new HnswVectorStore(options, db);
    try {
      await store.load(damaged ? undefined : manifest);
    } catch (err) {
      await store.index.close();
      store.db.close();
      throw err;
    }
    return store;
  }

  /** The manifest of the index currently served. */
  get manifest(): IndexManifest | undefined {
    return this.currentManifest;
  }

  /**
   * Documents currently served, neither copied nor sorted per call. They come from the sorted list (see
   * {@link sortedDocuments}): walking an array is an order of magnitude faster than walking the versioned map.
   */
  documents(): IterableIterator<StoredDocument> {
    return this.snapshot.sorted.values();
  }

  /** Documents currently served, sorted by id (a copy). */
  listDocuments(): StoredDocument[] {
    return [...this.snapshot.sorted];
  }

  /** Documents currently served, sorted by id: neither sorted nor copied per call (the store keeps the order). */
  sortedDocuments(): readonly StoredDocument[] {
    return this.snapshot.sorted;
  }

  /** Number of documents currently served. */
  get documentCount(): number {
    return this.snapshot.documents.size;
  }

  getDocument(id: string): StoredDocument | undefined {
    return this.snapshot.documents.get(id);
  }

  /** Number of chunks of a served document (0 when unknown). */
  chunksOf(id: string): number {
    return this.snapshot.chunkCounts.get(id) ?? 0;
  }

  get chunkCount(): number {
    return this.snapshot.records.size;
  }

  /** Number of hnsw graphs and where they live. */
  get graphLayout(): { graphs: number; threads: number } {
    return { graphs: this.index.graphCount, threads: this.index.layout.threads };
  }

  /** Version of the served corpus: changes whenever a document is added, changed or removed. */
  get corpusVersion(): string {
    return `${this.snapshot.generation}:${this.snapshot.corpusHash.slice(0, 12)}`;
  }

  /**
   * Brings the index in line with `documents`: new and changed documents are chunked and embedded, removed ones
   * dropped, unchanged ones (same content hash) left alone. Runs under the writer lock.
   */
  sync(documents: readonly SourceDocument[], onProgress?: (p: SyncProgress) => void): Promise<SyncReport> {
    return this.exclusive(async () => {
      const pacer = createPacer();
      const wanted = new Set<string>();
      for (const d of documents) {
        wanted.add(d.id);
        const pause = pacer.tick();
        if (pause) await pause;
      }
      // The served map already knows every document; only an index that must be rebuilt asks the database.
      const keys = this.needsFullRebuild ? this.db.listDocumentKeys() : undefined;
      const removed: string[] = [];
      for (const { id } of keys ?? this.snapshot.sorted) {
        if (!wanted.has(id)) removed.push(id);
        const pause = pacer.tick();
        if (pause) await pause;
      }
      return this.applyChange(documents, removed, onProgress, keys);
    });
  }

  /** Adds or replaces some documents, leaving the others as they are. */
  upsert(documents: readonly SourceDocument[], onProgress?: (p: SyncProgress) => void): Promise<SyncReport> {
    return this.exclusive(() => this.applyChange(documents, [], onProgress));
  }

  /** Removes documents by id; unknown ids are ignored. */
  remove(ids: readonly string[]): Promise<SyncReport> {
    return this.exclusive(() =>
      this.applyChange(
        [],
        ids.filter((id) => this.snapshot.documents.has(id)),
      ),
    );
  }

  /** LangChain: adds documents whose `metadata` carries at least an `id` and a `title`. */
  async addDocuments(documents: DocumentInterface[]): Promise<string[]> {
    const sources = documents.map((d, i) => {
      const meta = d.metadata as Partial<SourceDocument>;
      const id = meta.id ?? `doc-${sha256(d.pageContent).slice(0, 12)}-${i}`;
      const base = {
        id,
        title: meta.title ?? id,
        language: meta.language ?? 'fr',
        source: meta.source ?? '',
        url: meta.url ?? '',
        date: meta.date ?? '',
        text: d.pageContent,
        path: meta.path ?? '',
      };
      return { ...base, contentHash: sha256(JSON.stringify(base)) };
    });
    await this.upsert(sources);
    return sources.map((s) => s.id);
  }

  /** LangChain: vectors come from this store's own embedder, so raw vectors cannot be added. */
  async addVectors(): Promise<string[]> {
    throw new Error('HnswVectorStore embeds its own documents: use addDocuments() or sync()');
  }

  /** LangChain: deletes documents by id (`{ ids }`). */
  override async delete(params?: { ids?: string[] }): Promise<void> {
    await this.remove(params?.ids ?? []);
  }

  /** LangChain: the `k` nearest chunks, scored by cosine similarity (1 is identical). */
  async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: this['FilterType'],
  ): Promise<[Document, number][]> {
    return (await this.vectorSearch(query, k, filter)).map(({ record, score }) => [
      new Document({ pageContent: record.text, metadata: { ...record }, id: record.id }),
      score,
    ]);
  }

  /**
   * Nearest chunks by cosine similarity, among those the current snapshot serves. With a `filter`, candidates are
   * fetched in growing rounds until `k` pass it or every chunk has been considered.
   */
  async vectorSearch(
    query: ArrayLike<number>,
    k: number,
    filter?: (record: ChunkRecord) => boolean,
  ): Promise<{ record: ChunkRecord; score: number }[]> {
    const { records, labelLimit } = this.snapshot;
    if (records.size === 0 || k <= 0) return [];
    const index = this.index;
    const visibleBelow = this.hiddenPoints ? labelLimit : Infinity;
    for (let want = filter ? Math.max(4 * k, 32) : k; ; want *= 4) {
      const n = Math.min(want, records.size);
      const hits = await index.search(query, n, visibleBelow);
      const found = hits.labels.flatMap((label, i) => {
        const record = records.get(label);
        return record && (!filter || filter(record)) ? [{ record, score: 1 - (hits.distances[i] ?? 1) }] : [];
      });
      if (found.length >= k || n >= records.size) return found.slice(0, k);
    }
  }

  /** Best chunks by BM25, among those the current snapshot serves. */
  lexicalSearch(query: string, k: number): { record: ChunkRecord; score: number }[] {
    const { records } = this.snapshot;
    return this.lexical
      .query(query, k, (label) => records.has(label))
      .flatMap((hit: LexicalHit) => {
        const record = records.get(hit.label);
        return record ? [{ record, score: hit.score }] : [];
      });
  }

  /** Waits for pending changes, writes a debounced index file, then closes the database and the graph workers. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      try {
        if (this.persistTimer) {
          clearTimeout(this.persistTimer);
          this.persistTimer = undefined;
          await this.persist(this.snapshot.generation);
        }
      } finally {
        await Promise.all([this.index.close(), this.background.close()]);
        this.db.close();
      }
    });
  }

  private async schedulePersist(): Promise<void> {
    if (this.persistDelayMs === 0) return this.persist(this.snapshot.generation);
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.exclusive(() => this.persist(this.snapshot.generation)).catch((err: unknown) =>
        this.logger.error(
          { err },
          'writing the hnsw index failed: it will be caught up from the database on restart',
        ),
      );
    }, this.persistDelayMs);
    this.persistTimer.unref();
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.writeLock.then(task, task);
    this.writeLock = run.catch(() => undefined);
    return run;
  }

  private createIndex(layout: GraphLayout): ShardedIndex {
    return ShardedIndex.create(
      {
        dimensions: this.embeddings.dimensions,
        graphDimensions: this.graphDimensionsFor(layout),
        rerank: this.params.rerank,
        m: this.params.m,
        efConstruction: this.params.efConstruction,
        efSearch: this.params.efSearch,
        build: this.hnswBuild,
        codes: this.codesFor(layout),
        scanLimit: this.scanLimit,
      },
      layout,
    );
  }

  /** What the graphs of `layout` store: projected graphs may hold int8 codes, full-vector graphs hold floats. */
  private codesFor(layout: GraphLayout): GraphCodes {
    return this.graphDimensionsFor(layout) < this.embeddings.dimensions ? this.projectedCodes : 'float32';
  }

  /** Dimensions the graphs of `layout` are built on: projected in worker threads, full on the main thread. */
  private graphDimensionsFor(layout: GraphLayout): number {
    return layout.threads > 0 ? this.graphDimensions : this.embeddings.dimensions;
  }

  /** Where the graphs of an index of `chunks` chunks should live. */
  private layoutFor(chunks: number): GraphLayout {
    return { threads: this.threads > 0 && chunks >= this.parallelMinChunks ? this.threads : 0 };
  }

  private expectedIdentity() {
    return {
      embedderId: this.embeddings.id,
      dimensions: String(this.embeddings.dimensions),
      chunkerVersion: CHUNKER_VERSION,
    };
  }

  private async load(manifest: IndexManifest | undefined): Promise<void> {
    const meta = this.db.getMeta();
    const expected = this.expectedIdentity();
    const mismatched = (Object.keys(expected) as (keyof typeof expected)[]).filter(
      (key) => meta[key] !== undefined && meta[key] !== expected[key],
    );
    if (mismatched.length > 0) {
      this.logger.warn(
        { code: 'INDEX_MISMATCH', stored: Object.fromEntries(mismatched.map((k) => [k, meta[k]])), expected },
        'index was built with another embedder or chunker: it will be rebuilt',
      );
      this.needsFullRebuild = true;
      return;
    }
    const documents = this.db.listDocuments();
    const generation = Number(meta.generation ?? 0);
    const chunkCount = this.db.countChunks();
    let problem = this.checkManifest(manifest);
    let stale = false;
    if (problem === undefined && manifest) {
      const index = this.createIndex(manifest.layout);
      try {
        await index.load(
          manifest.graphs.map((g) => ({
            graph: { path: join(this.dataDir, g.file), expected: g as FileChecksum },
            ...(g.vectors
              ? { vectors: { path: join(this.dataDir, g.vectors.file), expected: g.vectors } }
              : {}),
          })),
        );
        this.replaceIndex(index);
        this.points = manifest.counts.points;
        this.deletedSlots = manifest.counts.deletedSlots;
        if (manifest.generation !== generation || manifest.counts.chunks !== chunkCount) {
          // A sound index a few changes behind the database (persisting is debounced, or a crash came between the
          // commit and the write): bring it up to date from the stored vectors instead of rebuilding it.
          stale = true;
          this.logger.info(
            { indexGeneration: manifest.generation, databaseGeneration: generation },
            'hnsw index behind the database: catching up',
          );
          await this.catchUp();
        }
      } catch (err) {
        await index.close();
        if (!(err instanceof CorruptGraphError)) throw err;
        problem = err.message;
      }
    }
    if (problem !== undefined) {
      if (chunkCount > 0)
        this.logger.warn(
          { code: 'INDEX_CORRUPT', problem },
          'hnsw index unusable: rebuilding it from stored vectors',
        );
      await this.rebuildFromDatabase(chunkCount);
    }
    const saved = problem === undefined && !stale ? await this.loadLexical(manifest) : undefined;
    const lexical = saved ?? new LexicalIndex({ kernel: this.bm25Kernel });
    const records = new ShardedMap<number, ChunkRecord>();
    const byId = new ShardedMap(documents.map((d) => [d.id, d] as const));
    for (const chunk of this.db.iterateChunks({ vectors: false, texts: false })) {
      const doc = byId.get(chunk.docId);
      if (!doc) continue;
      const record = toRecord(chunk, doc);
      records.set(chunk.label, record);
      if (!saved) lexical.add(chunk.label, record.text);
    }
    this.lexical = lexical;
    this.snapshot = {
      generation,
      corpusHash: corpusHash(documents),
      records: LayeredMap.of(records),
      documents: LayeredMap.of(byId),
      chunkCounts: LayeredMap.of(countChunks(records)),
      labelLimit: this.db.nextLabel(),
      sorted: await sortById(documents, createPacer()),
    };
    // A rebuilt BM25 index (first start after an upgrade, or a damaged file) is saved so the next start skips it.
    if (problem !== undefined || stale || (!saved && records.size > 0)) await this.persist(generation);
    else this.currentManifest = manifest;
  }

  private replaceIndex(index: ShardedIndex): void {
    const previous = this.index;
    this.index = index;
    if (previous !== index) void previous.close();
  }

  /** Why the manifest cannot describe the served index, or `undefined` when it can. */
  private checkManifest(manifest: IndexManifest | undefined): string | undefined {
    if (!manifest) return 'manifest missing or invalid';
    if (
      manifest.embedder.id !== this.embeddings.id ||
      manifest.embedder.dimensions !== this.embeddings.dimensions
    )
      return 'embedder differs';
    if (manifest.chunkerVersion !== CHUNKER_VERSION) return 'chunker differs';
    if (
      manifest.hnsw.m !== this.params.m ||
      manifest.hnsw.efConstruction !== this.params.efConstruction ||
      manifest.hnsw.graphDimensions !== this.graphDimensionsFor(manifest.layout)
    )
      return 'hnsw parameters differ';
    if ((manifest.hnsw.codes ?? 'float32') !== this.codesFor(manifest.layout)) return 'graph codes differ';
    if (manifest.graphs.length !== Math.max(1, manifest.layout.threads))
      return 'graph files do not match the layout';
    if (manifest.layout.threads > 0 && this.threads === 0) return 'graph threads disabled';
    return undefined;
  }

  /** The saved BM25 index when its file matches the manifest; `undefined` means rebuild it from the chunk texts. */
  private async loadLexical(manifest: IndexManifest | undefined): Promise<LexicalIndex | undefined> {
    if (!manifest) return undefined;
    try {
      const bytes = await readFile(this.paths.lexical);
      if (
        bytes.length !== manifest.lexical.bytes ||
        createHash('sha256').update(bytes).digest('hex') !== manifest.lexical.sha256
      ) {
        this.logger.warn(
          { code: 'INDEX_CORRUPT' },
          'lexical index file does not match the manifest: rebuilding it',
        );
        return undefined;
      }
      return LexicalIndex.deserialize(bytes, { kernel: this.bm25Kernel });
    } catch (err) {
      this.logger.warn({ code: 'INDEX_CORRUPT', err }, 'lexical index file unusable: rebuilding it');
      return undefined;
    }
  }

  /** Adds the stored chunks the graphs lack and deletes the ones the database no longer has. */
  private async catchUp(): Promise<void> {
    const inIndex = new Set(await this.index.ids());
    const inDatabase = new Set<number>();
    let batch: IndexPoint[] = [];
    for (const chunk of this.db.iterateChunks()) {
      inDatabase.add(chunk.label);
      if (inIndex.has(chunk.label)) continue;
      batch.push({ label: chunk.label, vector: chunk.vector });
      if (batch.length >= 1000) {
        await this.index.add(batch);
        this.points += batch.length;
        batch = [];
      }
    }
    await this.index.add(batch);
    this.points += batch.length;
    const gone = [...inIndex].filter((label) => !inDatabase.has(label));
    this.deletedSlots += await this.index.markDelete(gone);
  }

  /** Builds new graphs from every stored vector (plus `extra` points the database does not hold yet). */
  private async rebuildFromDatabase(
    chunkCount: number,
    extra: readonly IndexPoint[] = [],
  ): Promise<ShardedIndex> {
    const total = chunkCount + extra.length;
    const index = this.createIndex(this.layoutFor(total));
    try {
      await index.reset(Math.ceil(total * 1.1));
      let batch: IndexPoint[] = [];
      let adding = Promise.resolve();
      for (const chunk of this.db.iterateChunks()) {
        batch.push({ label: chunk.label, vector: chunk.vector });
        if (batch.length >= 4096) {
          const points = batch;
          batch = [];
          await adding;
          adding = index.add(points);
          await yieldToEventLoop();
        }
      }
      await adding;
      await index.add([...batch, ...extra]);
    } catch (err) {
      await index.close();
      throw err;
    }
    this.replaceIndex(index);
    this.points = total;
    this.deletedSlots = 0;
    return index;
  }

  /** Embeds one batch of texts, checking the embedder's answer; the event loop runs before it returns. */
  private async embedBatch(texts: string[]): Promise<Float32Array[]> {
    const batch = this.embeddings.embedDocumentsToFloat32
      ? await this.embeddings.embedDocumentsToFloat32(texts)
      : await this.embeddings.embedDocuments(texts);
    if (batch.length !== texts.length)
      throw new Error(`embedder returned ${batch.length} vectors for ${texts.length} texts`);
    const vectors = batch.map((v) => {
      if (v.length !== this.embeddings.dimensions)
        throw new Error(`embedder returned ${v.length} dimensions, expected ${this.embeddings.dimensions}`);
      return v instanceof Float32Array ? v : Float32Array.from(v);
    });
    await yieldToEventLoop();
    return vectors;
  }

  private async applyChange(
    incoming: readonly SourceDocument[],
    removeIds: readonly string[],
    onProgress?: (p: SyncProgress) => void,
    keys?: { id: string; contentHash: string }[],
  ): Promise<SyncReport> {
    const started = performance.now();
    const rebuilt = this.needsFullRebuild;
    // An upsert or removal looks up the documents it touches in the served map instead of listing the corpus.
    const stored: Pick<Map<string, { id: string; contentHash: string }>, 'get' | 'has' | 'keys'> = keys ||
    this.needsFullRebuild
      ? new Map((keys ?? this.db.listDocumentKeys()).map((d) => [d.id, d]))
      : this.snapshot.documents;
    const stages = { chunkingMs: 0, embeddingMs: 0, storingMs: 0, indexingMs: 0, persistingMs: 0 };
    let mark = started;
    const lap = (stage: keyof typeof stages) => {
      const now = performance.now();
      stages[stage] += Math.round(now - mark);
      mark = now;
    };
    const report: SyncReport = {
      added: [],
      changed: [],
      removed: [],
      unchanged: [],
      chunksEmbedded: 0,
      chunks: 0,
      durationMs: 0,
      stages,
      rebuilt,
    };
    const toIndex: SourceDocument[] = [];
    const pacer = createPacer();
    for (const doc of incoming) {
      const pause = pacer.tick();
      if (pause) await pause;
      const previous = stored.get(doc.id);
      if (!previous) report.added.push(doc.id);
      else if (rebuilt || previous.contentHash !== doc.contentHash) report.changed.push(doc.id);
      else {
        report.unchanged.push(doc.id);
        continue;
      }
      toIndex.push(doc);
    }
    report.removed = removeIds.filter((id) => stored.has(id));
    const dropIds = rebuilt ? [...stored.keys()] : [...report.removed, ...report.changed];
    if (toIndex.length === 0 && dropIds.length === 0) {
      // Nothing changed: no transaction, no new generation, no index write.
      report.chunks = this.snapshot.records.size;
      report.durationMs = Math.round(performance.now() - started);
      return report;
    }

    // Chunking and embedding overlap: each full batch of new texts is embedded (in the embedder's workers for the
    // local one) while this thread chunks the next documents; at most one batch waits ahead of the chunker.
    // Sentences as offsets and one object per chunk (labelled and given its vector in place): at a million chunks,
    // objects per sentence and per copy of a chunk were 5 million more for the collector to trace during the ingest.
    const prepared: { doc: SourceDocument; spans: Int32Array; chunks: StoredChunk[] }[] = [];
    // Sharded: at a million chunks, growing one Map or Set held the event loop up to 196 ms.
    const reusable = new ShardedMap<string, Float32Array>();
    const queued = new ShardedSet<string>();
    const batchSize = this.embeddings.preferredBatchSize ?? this.embedBatchSize;
    let pending: { hash: string; text: string }[] = [];
    let embedding: Promise<void> = Promise.resolve();
    let queuedTexts = 0;
    let embeddedTexts = 0;
    const flush = () => {
      const batch = pending;
      pending = [];
      const previous = embedding;
      embedding = (async () => {
        await previous;
        const vectors = await this.embedBatch(batch.map((p) => p.text));
        batch.forEach((p, i) => reusable.set(p.hash, vectors[i] as Float32Array));
        embeddedTexts += batch.length;
        onProgress?.({ phase: 'embedding', done: embeddedTexts, total: queuedTexts });
      })();
      embedding.catch(() => undefined);
    };
    for (const doc of toIndex) {
      const { sentences, chunks } = chunkDocument(doc);
      // Fields written out: V8 (11.3) gives each object made by a spread plus further properties a hidden class of
      // its own, which at a million chunks was a million maps and descriptor arrays in the heap.
      const hashed = chunks.map((c): StoredChunk => ({
        id: c.id,
        docId: c.docId,
        index: c.index,
        start: c.start,
        end: c.end,
        text: c.text,
        firstSentence: c.firstSentence,
        lastSentence: c.lastSentence,
        textHash: sha256(c.text),
        label: -1,
        vector: NO_VECTOR,
      }));
      prepared.push({ doc, spans: sentenceSpans(sentences), chunks: hashed });
      const fresh: typeof hashed = [];
      for (const c of hashed) {
        if (queued.has(c.textHash)) continue;
        queued.add(c.textHash);
        fresh.push(c);
      }
      // An empty store (first ingest) has no vectors to reuse: no lookup per chunk.
      const stored =
        rebuilt || this.snapshot.records.size === 0
          ? new Map<string, Float32Array>()
          : await this.db.vectorsByTextHash(fresh.map((c) => c.textHash));
      for (const c of fresh) {
        const vector = stored.get(c.textHash);
        if (vector) reusable.set(c.textHash, vector);
        else {
          pending.push({ hash: c.textHash, text: c.text });
          queuedTexts += 1;
        }
      }
      if (pending.length >= batchSize) {
        await embedding;
        flush();
      }
      const pause = pacer.tick();
      if (pause) await pause;
    }
    lap('chunkingMs');
    if (pending.length > 0) flush();
    await embedding;
    report.chunksEmbedded = queuedTexts;
    lap('embeddingMs');

    let nextLabel = this.db.nextLabel();
    const indexedAt = new Date().toISOString();
    const upserts: { document: StoredDocument; chunks: StoredChunk[] }[] = [];
    const hasher = new CorpusHasher(rebuilt ? undefined : this.snapshot.corpusHash);
    if (!rebuilt)
      for (const id of dropIds) {
        const dropped = stored.get(id);
        if (dropped) hasher.toggle(dropped);
        const pause = pacer.tick();
        if (pause) await pause;
      }
    for (const { doc, spans, chunks } of prepared) {
      hasher.toggle(doc);
      for (const c of chunks) {
        c.label = nextLabel++;
        c.vector = reusable.get(c.textHash) as Float32Array;
      }
      upserts.push({
        document: toStoredDocument(doc, indexedAt, spans),
        chunks,
      });
      const pause = pacer.tick();
      if (pause) await pause;
    }
    await yieldToEventLoop();

    const generation = Number(this.db.getMeta().generation ?? 0) + 1;
    const newCorpusHash = hasher.hex;
    const oldLabels = this.db.labelsOfDocuments(dropIds);
    await yieldToEventLoop();
    // One array of the exact size, which is also the index points: at a million chunks, two arrays grown by push
    // copied themselves in one step, which held the event loop 126 ms in a profiled ingest.
    let count = 0;
    for (const { chunks } of upserts) count += chunks.length;
    const newChunks = new Array<StoredChunk>(count);
    let filled = 0;
    for (const { chunks } of upserts) {
      for (const c of chunks) newChunks[filled++] = c;
      const pause = pacer.tick();
      if (pause) await pause;
    }
    const liveBefore = this.snapshot.records.size;
    const total = liveBefore - oldLabels.length + newChunks.length;
    // A change larger than the index (first ingest, re-embedding) builds new graphs, laid out for the new size.
    const freshGraphs =
      rebuilt ||
      (newChunks.length >= Math.max(1, liveBefore) &&
        this.layoutFor(total).threads !== this.index.layout.threads);
    let kept: IndexPoint[] = [];
    if (freshGraphs && total > newChunks.length) {
      const droppedLabels = new Set(oldLabels);
      for (const chunk of this.db.iterateChunks())
        if (!droppedLabels.has(chunk.label)) kept.push({ label: chunk.label, vector: chunk.vector });
    }
    const target = freshGraphs ? this.createIndex(this.layoutFor(total)) : this.index;
    this.hiddenPoints = true;
    // The graphs are built (in worker threads for a large index) while this thread stores the change.
    const indexing = (async () => {
      if (freshGraphs) await target.reset(Math.ceil(total * 1.1));
      const points: IndexPoint[] = kept.length > 0 ? [...kept, ...newChunks] : newChunks;
      kept = [];
      await target.add(points, (done) => onProgress?.({ phase: 'indexing', done, total: points.length }));
    })();
    indexing.catch(() => undefined);
    try {
      const change = {
        removeDocumentIds: dropIds,
        upsertDocuments: upserts,
        meta: {
          ...this.expectedIdentity(),
          generation: String(generation),
          nextLabel: String(nextLabel),
          corpusHash: newCorpusHash,
        },
      };
      if (oldLabels.length + newChunks.length >= BACKGROUND_WRITE_MIN_ROWS)
        await this.background.apply(change);
      else await this.db.apply(change, yieldToEventLoop);
    } catch (err) {
      await indexing.catch(() => undefined);
      if (freshGraphs) await target.close();
      else await this.rebuildFromDatabase(this.db.countChunks());
      this.hiddenPoints = false;
      throw err;
    }
    this.needsFullRebuild = false;
    lap('storingMs');

    await this.lexical.reserve(newChunks.length, nextLabel);
    for (let i = 0; i < newChunks.length; i += 1) {
      const chunk = newChunks[i] as StoredChunk;
      this.lexical.add(chunk.label, chunk.text);
      const pause = pacer.tick();
      if (pause) await pause;
    }
    // The served maps are versioned: the next one shares the current one's entries, so a change costs its own size.
    // Each record is made as the map reads it (see ChangeEntries).
    const newRecords = {
      size: newChunks.length,
      *[Symbol.iterator]() {
        for (const { document, chunks } of upserts)
          for (const chunk of chunks) yield [chunk.label, toRecord(chunk, document)] as const;
      },
    };
    const tick = () => pacer.tick();
    const records = await this.snapshot.records.derive(newRecords, oldLabels, tick);
    const servedDocuments = {
      size: upserts.length,
      *[Symbol.iterator]() {
        for (const { document } of upserts) yield [document.id, document] as const;
      },
    };
    const documents = await this.snapshot.documents.derive(servedDocuments, dropIds, tick);
    const sorted = await mergeById(
      this.snapshot.sorted,
      new Set(dropIds),
      upserts.map((u) => u.document),
      pacer,
    );
    const chunkCounts = await this.snapshot.chunkCounts.derive(
      upserts.map(({ document, chunks }) => [document.id, chunks.length] as const),
      dropIds,
      tick,
    );
    let graphsRebuilt = false;
    try {
      await indexing;
    } catch (err) {
      this.logger.error({ err }, 'indexing failed: rebuilding the hnsw graphs from the database');
      if (freshGraphs) await target.close();
      await this.rebuildFromDatabase(this.db.countChunks());
      graphsRebuilt = true;
    }
    if (freshGraphs && !graphsRebuilt) {
      this.replaceIndex(target);
      this.points = total;
      this.deletedSlots = 0;
    } else if (!graphsRebuilt) this.points += newChunks.length;
    this.snapshot = {
      generation,
      corpusHash: newCorpusHash,
      records,
      documents,
      chunkCounts,
      labelLimit: nextLabel,
      sorted,
    };

    for (const label of oldLabels) {
      this.lexical.remove(label);
      const pause = pacer.tick();
      if (pause) await pause;
    }
    if (this.lexical.needsCompaction) await this.lexical.compact(pacer);
    if (!freshGraphs && !graphsRebuilt) this.deletedSlots += await this.index.markDelete(oldLabels);
    this.hiddenPoints = false;
    if (this.deletedSlots > 0 && this.deletedSlots / Math.max(1, this.points) > this.maxDeletedRatio) {
      this.logger.info({ deletedSlots: this.deletedSlots, total: this.points }, 'compacting hnsw index');
      await this.rebuildFromDatabase(this.db.countChunks());
    }
    lap('indexingMs');
    await this.schedulePersist();
    lap('persistingMs');
    report.chunks = records.size;
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }

  /** Writes the BM25 file slice by slice (see {@link LexicalIndex.writeTo}), hashing it as it goes. */
  private async writeLexical(): Promise<{ sha256: string; bytes: number }> {
    const digest = createHash('sha256');
    let bytes = 0;
    await publishAtomically(this.paths.lexical, async (temporary) => {
      const file = await open(temporary, 'w');
      try {
        await this.lexical.writeTo(async (slice) => {
          digest.update(slice);
          bytes += slice.length;
          await file.writeFile(slice);
        }, createPacer());
      } finally {
        await file.close();
      }
    });
    return { sha256: digest.digest('hex'), bytes };
  }

  private async persist(generation: number): Promise<void> {
    const index = this.index;
    const graphs: IndexManifest['graphs'] = await Promise.all(
      Array.from({ length: index.graphCount }, async (_, i) => {
        const file = graphFile(i);
        const path = join(this.dataDir, file);
        await publishAtomically(path, (temporary) => index.saveGraph(i, temporary));
        const graph = { file, ...(await fileChecksum(path, this.background)) };
        if (!index.projected) return graph;
        const vectors = vectorsFile(i);
        await publishAtomically(join(this.dataDir, vectors), (temporary) => index.saveVectors(i, temporary));
        return {
          ...graph,
          vectors: { file: vectors, ...(await fileChecksum(join(this.dataDir, vectors), this.background)) },
        };
      }),
    );
    const lexical = await this.writeLexical();
    // Fold the write-ahead log back (after a bulk change it is as large as the data) before the database is hashed;
    // a large log is copied and fsynced in a worker, off the event loop.
    if ((await walBytes(this.db.path)) > 8 * 1024 * 1024) await this.background.checkpoint();
    else this.db.checkpoint();
    const database = { ...(await fileChecksum(this.db.path, this.background)), generation };
    const manifest: IndexManifest = {
      formatVersion: 3,
      embedder: { id: this.embeddings.id, dimensions: this.embeddings.dimensions },
      chunkerVersion: CHUNKER_VERSION,
      corpusHash: this.snapshot.corpusHash,
      counts: {
        documents: this.snapshot.documents.size,
        chunks: this.snapshot.records.size,
        deletedSlots: this.deletedSlots,
        points: this.points,
      },
      hnsw: {
        ...this.params,
        graphDimensions: this.graphDimensionsFor(index.layout),
        codes: this.codesFor(index.layout),
      },
      layout: index.layout,
      generation,
      builtAt: new Date().toISOString(),
      graphs,
      lexical,
      database,
    };
    await writeManifest(this.paths.manifest, manifest);
    this.currentManifest = manifest;
    const current = new Set(graphs.flatMap((g) => (g.vectors ? [g.file, g.vectors.file] : [g.file])));
    for (const name of await readdir(this.dataDir))
      if (GRAPH_FILE.test(name) && !current.has(name)) await rm(join(this.dataDir, name), { force: true });
  }

  /** Deletes every file of the store in `dataDir` (for tests and `--rebuild`). */
  static async destroy(dataDir: string): Promise<void> {
    const names = await readdir(dataDir).catch(() => [] as string[]);
    for (const name of names.filter((n) => GRAPH_FILE.test(n)))
      await rm(join(dataDir, name), { force: true });
    for (const file of [
      MANIFEST_FILE,
      LEXICAL_FILE,
      DATABASE_FILE,
      `${DATABASE_FILE}-wal`,
      `${DATABASE_FILE}-shm`,
    ]) {
      await rm(join(dataDir, file), { force: true });
    }
  }
}
