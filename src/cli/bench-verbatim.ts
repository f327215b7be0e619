import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { qaOptions, storeOptions } from '../main.js';
import { loadHnswlib } from '../rag/store/hnswlib.js';
import { createSilentLogger } from '../logger.js';
import type { VerbatimEmbeddings } from '../rag/embeddings/index.js';
import { retrieve } from '../rag/retrieval/hybrid.js';
import {
  createQaService,
  type QaService,
  type RefreshResult,
  type SyncProgress,
  type SyncReport,
} from '../rag/service.js';
import { CorpusReaderPool } from '../rag/corpus/index.js';
import { HnswVectorStore } from '../rag/store/vector-store.js';
import type { SourceDocument } from '../rag/types.js';
import { generateDocuments, toMarkdownFile, writeCorpusFiles } from './bench-corpus.js';
import {
  collectGarbage,
  directorySize,
  measureLatency,
  peakRssBytes,
  withStallMonitor,
  type Neighbors,
  type StallProbe,
} from './bench-stats.js';
import {
  benchConfig,
  createBenchEmbeddings,
  type BenchTask,
  type OperationMetrics,
  type PreparedCorpus,
  type SystemResult,
  type VerbatimRun,
} from './bench-task.js';

/**
 * Names the store's phase from its progress reports: embedding batches, then storing (after the last batch), then
 * indexing, then whatever follows the last indexed point (snapshot swap, markDelete, compaction, persisting).
 */
function phaseTracker(probe: StallProbe): (p: SyncProgress) => void {
  return (p) => {
    if (p.phase === 'embedding') probe.phase = p.done < p.total ? 'embedding' : 'storing (after embedding)';
    else probe.phase = p.done < p.total ? 'indexing' : 'after indexing';
  };
}

/**
 * Verbatim measured the way the bot runs it: the corpus is written as `.md` files, then `service.refresh()` loads,
 * chunks, embeds, stores, indexes and persists it into an empty data directory (a full build); the store is closed
 * and reopened (load time), questions are timed, then documents are added and removed on the built index.
 * Configuration comes from `loadConfig` defaults and the embedder from `createEmbeddings`, as in `createApp`, so the
 * bench follows what ships.
 */
export async function runVerbatimTask(task: BenchTask, corpus: PreparedCorpus): Promise<SystemResult> {
  const embeddings = await createBenchEmbeddings(task.dims);
  try {
    return await measureVerbatim(task, corpus, embeddings);
  } finally {
    await embeddings.close?.();
  }
}

async function measureVerbatim(
  task: BenchTask,
  corpus: PreparedCorpus,
  embeddings: VerbatimEmbeddings,
): Promise<SystemResult> {
  const logger = createSilentLogger();
  const corpusDir = join(task.workDir, 'corpus');
  await writeCorpusFiles(corpusDir, corpus.documents);
  // The generated articles are on disk now: dropped here, so that the measured process holds what a bot holds (at 1M
  // chunks, 125k articles of about 2,000 characters that every full collection of the event loop's heap traced).
  corpus.documents.length = 0;
  const config = benchConfig(task.tuning, { CORPUS_DIR: corpusDir, DATA_DIR: join(task.workDir, 'data') });
  const open = (dataDir: string) =>
    HnswVectorStore.open({ dataDir, embeddings, logger, ...storeOptions(config) });
  // A new pool per run: each run's ingest starts its reader threads, as a bot's first refresh does.
  let corpusReader = new CorpusReaderPool();
  const serviceFor = (store: HnswVectorStore): QaService =>
    createQaService({
      store,
      embeddings,
      logger,
      corpusReader,
      options: qaOptions(config),
    });

  const options = { seed: task.seed + 101, chunksPerDocument: task.chunksPerDocument };
  const [one] = generateDocuments(1, { ...options, idPrefix: 'bench-one' }) as [SourceDocument];
  const many = generateDocuments(task.incrementalDocuments, {
    ...options,
    seed: task.seed + 202,
    idPrefix: 'bench-many',
  });
  const [fileOne] = generateDocuments(1, { ...options, seed: task.seed + 303, idPrefix: 'bench-file' }) as [
    SourceDocument,
  ];
  const rssBeforeBuildBytes = process.memoryUsage().rss;

  const runs: VerbatimRun[] = [];
  const neighbors: Neighbors[][] = [];
  for (let r = 0; r < task.repeat; r += 1) {
    const dataDir = join(task.workDir, `data-${r}`);
    await corpusReader.close();
    corpusReader = new CorpusReaderPool();
    let store: HnswVectorStore | undefined;
    let openMs = 0;
    const ingest = await withStallMonitor(async (probe) => {
      const started = performance.now();
      store = await open(dataDir);
      openMs = performance.now() - started;
      probe.phase = 'loading/chunking';
      return serviceFor(store).refresh(phaseTracker(probe));
    }, 'open');
    if (ingest.result.kind !== 'refreshed')
      throw new Error(`bench corpus did not load: ${ingest.result.message}`);
    if (ingest.result.failures.length > 0)
      throw new Error(`bench corpus: ${ingest.result.failures.length} file(s) failed to load`);
    const { result: report, ms: totalMs, ...stall } = ingest;
    await store?.close();
    store = undefined;
    const disk = await directorySize(dataDir);
    collectGarbage();

    const loadStarted = performance.now();
    const built = await open(dataDir);
    const loadMs = performance.now() - loadStarted;
    const service = serviceFor(built);

    const vectors: number[][] = [];
    const embedQuery = await measureLatency(corpus.questions, async (q) => {
      vectors.push(await embeddings.embedQuery(q));
    });
    const found: Neighbors[] = [];
    const vector = await measureLatency(vectors, async (v, i) => {
      const hits = await built.vectorSearch(v, 10);
      if (i < task.recallQueries)
        found.push({ ids: hits.map((h) => h.record.id), distances: hits.map((h) => 1 - h.score) });
    });
    const lexical = await measureLatency(corpus.questions, (q) => built.lexicalSearch(q, 10));
    const hybrid = await measureLatency(corpus.questions, (q, i) =>
      retrieve(built, q, vectors[i] as number[], { k: config.RETRIEVAL_TOP_K }),
    );
    let answered = 0;
    const ask = await measureLatency(corpus.questions, async (q) => {
      if ((await service.ask(q)).kind === 'answer') answered += 1;
    });

    const operation = async (
      name: string,
      documents: number,
      change: (onProgress: (p: SyncProgress) => void) => Promise<SyncReport | RefreshResult>,
    ): Promise<OperationMetrics> => {
      const before = built.chunkCount;
      const { result, ...stall } = await withStallMonitor((probe) => change(phaseTracker(probe)), name);
      const stages = 'stages' in result ? { stages: { ...result.stages } } : {};
      return { ...stall, documents, chunks: Math.abs(built.chunkCount - before), ...stages };
    };
    const incremental = {
      addOne: await operation('upsert', 1, (progress) => built.upsert([one], progress)),
      removeOne: await operation('remove', 1, () => built.remove([one.id])),
      addMany: await operation('upsert', many.length, (progress) => built.upsert(many, progress)),
      removeMany: await operation('remove', many.length, () => built.remove(many.map((d) => d.id))),
      refreshUnchanged: await operation('loading/chunking', 0, (progress) => service.refresh(progress)),
      refreshAddOne: await (async () => {
        const file = join(corpusDir, fileOne.path);
        await writeFile(file, toMarkdownFile(fileOne));
        try {
          return await operation('loading/chunking', 1, (progress) => service.refresh(progress));
        } finally {
          await rm(file, { force: true });
        }
      })(),
    };
    await built.close();
    await rm(dataDir, { recursive: true, force: true });

    runs.push({
      ingest: {
        totalMs,
        loadingMs: Math.max(0, totalMs - openMs - report.durationMs),
        openMs,
        stages: { ...report.stages },
        documents: report.added.length,
        chunks: report.chunks,
        chunksPerSecond: report.chunks / (totalMs / 1000),
        ...stall,
      },
      disk,
      loadMs,
      latency: { embedQuery, vector, lexical, hybrid, ask },
      askAnswered: answered / Math.max(1, corpus.questions.length),
      incremental,
    });
    neighbors.push(found);
  }
  await corpusReader.close();
  await rm(corpusDir, { recursive: true, force: true });
  return {
    system: 'verbatim',
    corpus: corpus.info,
    runs,
    neighbors,
    peakRssBytes: peakRssBytes(),
    rssBeforeBuildBytes,
    params: {
      embedder: embeddings.id,
      m: config.HNSW_M,
      efConstruction: config.HNSW_EF_CONSTRUCTION,
      efSearch: config.HNSW_EF_SEARCH,
      graphDimensions: config.HNSW_GRAPH_DIMENSIONS,
      rerank: config.HNSW_RERANK,
      hnswlib: loadHnswlib(storeOptions(config).hnswBuild).choice.build,
      threads: config.INDEX_THREADS,
      parallelMinChunks: config.INDEX_PARALLEL_MIN_CHUNKS,
      persistDelayMs: config.INDEX_PERSIST_DELAY_MS,
      embedBatchSize: config.EMBEDDINGS_BATCH_SIZE,
      topK: config.RETRIEVAL_TOP_K,
    },
  };
}
