import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Embeddings, type EmbeddingsInterface } from '@langchain/core/embeddings';
import type { VerbatimEmbeddings } from '../rag/embeddings/index.js';
import { generateDocuments } from './bench-corpus.js';
import {
  collectGarbage,
  directorySize,
  measureLatency,
  peakRssBytes,
  withStallMonitor,
  type Neighbors,
} from './bench-stats.js';
import {
  chunkCorpus,
  createBenchEmbeddings,
  type BenchTask,
  type LangchainRun,
  type OperationMetrics,
  type PreparedCorpus,
  type SystemResult,
} from './bench-task.js';

/** Delegates to an embedder and adds up the time spent in `embedDocuments`, to split a `fromTexts` build. */
class TimedEmbeddings extends Embeddings {
  ms = 0;

  constructor(private readonly inner: EmbeddingsInterface) {
    super({});
  }

  override async embedDocuments(texts: string[]): Promise<number[][]> {
    const started = performance.now();
    try {
      return await this.inner.embedDocuments(texts);
    } finally {
      this.ms += performance.now() - started;
    }
  }

  override embedQuery(text: string): Promise<number[]> {
    return this.inner.embedQuery(text);
  }
}

/**
 * LangChain's HNSWLib (`@langchain/community`, a dev dependency) used as its documentation shows: the same chunks
 * and the same embedder as Verbatim (the one `createEmbeddings` builds), `HNSWLib.fromTexts` (which embeds everything, then calls `addPoint` for each vector at
 * hnswlib-node's defaults: M 16, efConstruction 200, ef 10, which HNSWLib does not let you change), `save()` and
 * `HNSWLib.load()`. Embedding time is taken out of the build by timing the embedder, so indexing is compared on its
 * own. Removing a document is not supported by HNSWLib (its `delete()` deletes the whole saved store).
 */
export async function runLangchainTask(task: BenchTask, corpus: PreparedCorpus): Promise<SystemResult> {
  const { HNSWLib } = await import('@langchain/community/vectorstores/hnswlib');
  const { Document } = await import('@langchain/core/documents');
  const embeddings = await createBenchEmbeddings(task.dims);
  try {
    return await measureLangchain(task, corpus, embeddings, HNSWLib, Document);
  } finally {
    await embeddings.close?.();
  }
}

async function measureLangchain(
  task: BenchTask,
  corpus: PreparedCorpus,
  embeddings: VerbatimEmbeddings,
  HNSWLib: typeof import('@langchain/community/vectorstores/hnswlib').HNSWLib,
  Document: typeof import('@langchain/core/documents').Document,
): Promise<SystemResult> {
  const options = { seed: task.seed + 101, chunksPerDocument: task.chunksPerDocument };
  const toDocuments = (docs: Parameters<typeof chunkCorpus>[0]) => {
    const { texts, metadatas } = chunkCorpus(docs);
    return texts.map((pageContent, i) => new Document({ pageContent, metadata: metadatas[i] ?? {} }));
  };
  const one = toDocuments(generateDocuments(1, { ...options, idPrefix: 'bench-one' }));
  const many = toDocuments(
    generateDocuments(task.incrementalDocuments, {
      ...options,
      seed: task.seed + 202,
      idPrefix: 'bench-many',
    }),
  );
  const rssBeforeBuildBytes = process.memoryUsage().rss;

  const runs: LangchainRun[] = [];
  const neighbors: Neighbors[][] = [];
  const neighborsAtEf: Neighbors[][] = [];
  let ef = Number.NaN;
  for (let r = 0; r < task.repeat; r += 1) {
    const dir = join(task.workDir, `store-${r}`);
    const timed = new TimedEmbeddings(embeddings);
    let chunkingMs = 0;
    let persistingMs = 0;
    let chunks = 0;
    const build = await withStallMonitor(async (probe) => {
      const started = performance.now();
      const { texts, metadatas } = chunkCorpus(corpus.documents);
      chunks = texts.length;
      chunkingMs = performance.now() - started;
      probe.phase = 'fromTexts (embedding, then addPoint)';
      const store = await HNSWLib.fromTexts(texts, metadatas, timed);
      probe.phase = 'save';
      const saveStarted = performance.now();
      await store.save(dir);
      persistingMs = performance.now() - saveStarted;
    }, 'chunking');
    collectGarbage();
    const disk = await directorySize(dir);

    const loadStarted = performance.now();
    const store = await HNSWLib.load(dir, embeddings);
    const loadMs = performance.now() - loadStarted;
    ef = store.index.getEf();

    const vectors: number[][] = [];
    const embedQuery = await measureLatency(corpus.questions, async (q) => {
      vectors.push(await embeddings.embedQuery(q));
    });
    const found: Neighbors[] = [];
    const vector = await measureLatency(vectors, async (v, i) => {
      const hits = await store.similaritySearchVectorWithScore(v, 10);
      if (i < task.recallQueries)
        found.push({
          ids: hits.map(([d]) => String(d.metadata.id)),
          distances: hits.map(([, distance]) => distance),
        });
    });

    const atEf = Math.max(task.efSearch, 10);
    store.index.setEf(atEf);
    const foundAtEf: Neighbors[] = [];
    const vectorAtEf = await measureLatency(vectors, async (v, i) => {
      const hits = await store.similaritySearchVectorWithScore(v, 10);
      if (i < task.recallQueries)
        foundAtEf.push({
          ids: hits.map(([d]) => String(d.metadata.id)),
          distances: hits.map(([, distance]) => distance),
        });
    });
    store.index.setEf(ef);

    const operation = async (
      documents: number,
      added: InstanceType<typeof Document>[],
    ): Promise<OperationMetrics> => {
      let saveMs = 0;
      const { result: _, ...stall } = await withStallMonitor(async (probe) => {
        await store.addDocuments(added);
        probe.phase = 'save';
        const saveStarted = performance.now();
        await store.save(dir);
        saveMs = performance.now() - saveStarted;
      }, 'addDocuments');
      return { ...stall, documents, chunks: added.length, persistingMs: saveMs };
    };
    const incremental = {
      addOne: await operation(1, one),
      addMany: await operation(task.incrementalDocuments, many),
    };
    await rm(dir, { recursive: true, force: true });

    const { ms: totalMs, maxStallMs, stallPhase } = build;
    runs.push({
      ingest: {
        totalMs,
        chunkingMs,
        embeddingMs: timed.ms,
        indexingMs: Math.max(0, totalMs - chunkingMs - timed.ms - persistingMs),
        persistingMs,
        chunks,
        chunksPerSecond: chunks / (totalMs / 1000),
        maxStallMs,
        stallPhase,
      },
      disk,
      loadMs,
      latency: { embedQuery, vector },
      atVerbatimEf: { ef: atEf, vector: vectorAtEf },
      incremental,
    });
    neighbors.push(found);
    neighborsAtEf.push(foundAtEf);
  }
  return {
    system: 'langchain',
    corpus: corpus.info,
    runs,
    neighbors,
    extraNeighbors: { atVerbatimEf: neighborsAtEf },
    peakRssBytes: peakRssBytes(),
    rssBeforeBuildBytes,
    params: { embedder: embeddings.id, space: 'cosine', m: 16, efConstruction: 200, efSearch: ef },
  };
}
