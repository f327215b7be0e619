import { loadConfig, type Config } from '../config.js';
import { createSilentLogger } from '../logger.js';
import { chunkDocument } from '../rag/chunking/index.js';
import { createEmbeddings, type VerbatimEmbeddings } from '../rag/embeddings/index.js';
import type { SourceDocument } from '../rag/types.js';
import { generateCorpus, generateQuestions } from './bench-corpus.js';
import type { LatencyStats, Neighbors } from './bench-stats.js';

/** The systems the benchmark measures, each in its own process unless told otherwise. */
export type BenchSystem = 'verbatim' | 'langchain' | 'exact';

/** What one system's measurement needs: plain data, so it can be sent to a child process. */
export interface BenchTask {
  system: BenchSystem;
  /** Target number of chunks of the synthetic corpus. */
  chunks: number;
  seed: number;
  chunksPerDocument: number;
  dims: number;
  /** Queries whose top 10 is compared with exact search (recall@10). */
  recallQueries: number;
  /** Queries timed for each latency (the first `recallQueries` of them also give the recall). */
  latencyQueries: number;
  repeat: number;
  /** Documents added then removed for the "1,000 documents" incremental measurement. */
  incrementalDocuments: number;
  /** A private temporary directory for this task's files. */
  workDir: string;
  /** Verbatim's configured ef (`HNSW_EF_SEARCH`), at which LangChain's index is also searched. */
  efSearch: number;
  /** Index settings overriding the configuration's defaults (see {@link benchConfig}). */
  tuning: Record<string, string>;
}

/** One incremental operation on a built index. */
export interface OperationMetrics {
  ms: number;
  maxStallMs: number;
  /** What the operation was doing when its longest stall began (→ when it ended). */
  stallPhase: string;
  /** Hypervisor steal time during the longest stall (see `withStallMonitor`). */
  stallStealMs: number;
  /** How long the event loop's thread waited for a CPU during the longest stall (see `withStallMonitor`). */
  stallWaitedMs: number;
  /** How long the event loop's thread ran during the longest stall (see `withStallMonitor`). */
  stallRanMs: number;
  /** The longest stall during which no CPU reported steal time. */
  maxQuietStallMs: number;
  /** The phase, wait for a CPU and run time of the longest stall with no steal, as for the longest. */
  quietStallPhase: string;
  quietStallWaitedMs: number;
  quietStallRanMs: number;
  documents: number;
  /** Chunks embedded (added) or dropped (removed) by the operation. */
  chunks: number;
  /** Part of `ms` spent writing the index to disk (LangChain: `save()`). */
  persistingMs?: number;
  /** Verbatim: the store's stages (`SyncReport.stages`). */
  stages?: Record<string, number>;
}

/** How the corpus was made, identical in every process for the same task options. */
export interface CorpusInfo {
  documents: number;
  chunks: number;
  characters: number;
  generationMs: number;
}

export interface VerbatimRun {
  ingest: {
    totalMs: number;
    /** Reading and parsing the `.md` files (`loadCorpus`). */
    loadingMs: number;
    /** Opening the empty store (SQLite schema, manifest check). */
    openMs: number;
    /** The store's own stages (`SyncReport.stages`). */
    stages: Record<string, number>;
    documents: number;
    chunks: number;
    chunksPerSecond: number;
    maxStallMs: number;
    stallPhase: string;
    stallStealMs: number;
    stallWaitedMs: number;
    stallRanMs: number;
    maxQuietStallMs: number;
    quietStallPhase: string;
    quietStallWaitedMs: number;
    quietStallRanMs: number;
  };
  disk: { bytes: number; files: Record<string, number> };
  loadMs: number;
  latency: {
    embedQuery: LatencyStats;
    vector: LatencyStats;
    lexical: LatencyStats;
    hybrid: LatencyStats;
    ask: LatencyStats;
  };
  /** Share of the timed questions for which `ask()` returned an answer (the rest: no_answer). */
  askAnswered: number;
  incremental: {
    addOne: OperationMetrics;
    removeOne: OperationMetrics;
    addMany: OperationMetrics;
    removeMany: OperationMetrics;
    refreshUnchanged: OperationMetrics;
    refreshAddOne: OperationMetrics;
  };
}

export interface LangchainRun {
  ingest: {
    totalMs: number;
    chunkingMs: number;
    embeddingMs: number;
    indexingMs: number;
    persistingMs: number;
    chunks: number;
    chunksPerSecond: number;
    maxStallMs: number;
    stallPhase: string;
  };
  disk: { bytes: number; files: Record<string, number> };
  loadMs: number;
  latency: { embedQuery: LatencyStats; vector: LatencyStats };
  /** The same index searched at Verbatim's ef (`store.index.setEf`, which HNSWLib's API does not offer). */
  atVerbatimEf: { ef: number; vector: LatencyStats };
  incremental: { addOne: OperationMetrics; addMany: OperationMetrics };
}

export interface ExactRun {
  build: { chunkingMs: number; embeddingMs: number; indexingMs: number; chunks: number; characters: number };
  /** The shipped embedder (`createEmbeddings`) over the same texts, in its preferred batches. */
  shippedEmbedder: { ms: number; batch: number };
  latency: { embedQuery: LatencyStats; vector: LatencyStats };
}

interface SystemResultBase<Run> {
  corpus: CorpusInfo;
  runs: Run[];
  /** Top 10 of each recall query, per run. */
  neighbors: Neighbors[][];
  /** More sets of top 10s to score against exact search (LangChain at Verbatim's ef), per run. */
  extraNeighbors?: Record<string, Neighbors[][]>;
  /** Peak RSS of the process that ran the task (the whole process: corpus generation included). */
  peakRssBytes: number;
  /** RSS once the corpus was generated, before the system was built. */
  rssBeforeBuildBytes: number;
  params: Record<string, number | string>;
}

export type SystemResult =
  | ({ system: 'verbatim' } & SystemResultBase<VerbatimRun>)
  | ({ system: 'langchain' } & SystemResultBase<LangchainRun>)
  | ({ system: 'exact' } & SystemResultBase<ExactRun>);

/** Settings a bench run may take from the environment (e.g. `HNSW_M=24 npm run bench`), to compare tunings. */
export const BENCH_TUNABLE = /^(?:HNSW_|INDEX_)/;

/** The configuration a bench run measures: the defaults, with `tuning` (index settings) and `values` applied. */
export function benchConfig(
  tuning: Record<string, string> = {},
  values: Record<string, string> = {},
): Config {
  return loadConfig({ ...tuning, ...values });
}

/**
 * The embedder Verbatim ships with for `dims` dimensions, built by `createEmbeddings` as `createApp` does (today
 * the local hashed embedder spread over worker threads). Its vectors are those of `LocalHashEmbeddings`.
 */
export function createBenchEmbeddings(dims: number): Promise<VerbatimEmbeddings> {
  return createEmbeddings(loadConfig({ LOCAL_EMBEDDINGS_DIMENSIONS: String(dims) }), {
    logger: createSilentLogger(),
  });
}

/** The corpus and questions of a task. */
export interface PreparedCorpus {
  documents: SourceDocument[];
  questions: string[];
  info: CorpusInfo;
}

export function prepareCorpus(task: BenchTask): PreparedCorpus {
  const started = performance.now();
  const documents = generateCorpus({
    chunks: task.chunks,
    seed: task.seed,
    chunksPerDocument: task.chunksPerDocument,
  });
  const generationMs = performance.now() - started;
  const questions = generateQuestions(Math.max(task.latencyQueries, task.recallQueries), task.seed + 1);
  const characters = documents.reduce((sum, d) => sum + d.text.length, 0);
  return {
    documents,
    questions,
    info: { documents: documents.length, chunks: task.chunks, characters, generationMs },
  };
}

/** The chunks of `documents` as the store makes them, with ids `${docId}#${index}` (shared by every system). */
export function chunkCorpus(documents: readonly SourceDocument[]): {
  texts: string[];
  ids: string[];
  metadatas: {
    id: string;
    docId: string;
    title: string;
    url: string;
    date: string;
    start: number;
    end: number;
  }[];
} {
  const texts: string[] = [];
  const ids: string[] = [];
  const metadatas: {
    id: string;
    docId: string;
    title: string;
    url: string;
    date: string;
    start: number;
    end: number;
  }[] = [];
  for (const doc of documents) {
    for (const chunk of chunkDocument(doc).chunks) {
      texts.push(chunk.text);
      ids.push(chunk.id);
      metadatas.push({
        id: chunk.id,
        docId: doc.id,
        title: doc.title,
        url: doc.url,
        date: doc.date,
        start: chunk.start,
        end: chunk.end,
      });
    }
  }
  return { texts, ids, metadatas };
}
