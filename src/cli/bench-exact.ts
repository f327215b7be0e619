import { LocalHashEmbeddings } from '../rag/embeddings/local.js';
import { loadHnswlib } from '../rag/store/hnswlib.js';
import { measureLatency, peakRssBytes, type Neighbors } from './bench-stats.js';
import {
  chunkCorpus,
  createBenchEmbeddings,
  type BenchTask,
  type ExactRun,
  type PreparedCorpus,
  type SystemResult,
} from './bench-task.js';

/** The build Verbatim loads, so that exact search and Verbatim's graphs compute distances with the same code. */
const { lib, choice } = loadHnswlib('auto');
const { BruteforceSearch } = lib;

/** Texts embedded per call: the batch of the embedder throughput measurement. */
const EMBED_BATCH = 64;

/**
 * Exact search, the ground truth of recall@10: hnswlib-node's `BruteforceSearch` (cosine) over the same chunks and
 * embedder. Vectors go from the embedder straight into the index, batch by batch, so no second copy of all vectors
 * is kept in JavaScript (1M x 256 floats is 1 GB as float32, twice that as `number[][]`). The embedding loop, on one
 * thread, doubles as the embedder's throughput measurement; the shipped embedder (`createEmbeddings`, which may use
 * worker threads) is then timed over the same texts, called as the store calls it, once its threads have started.
 */
export async function runExactTask(task: BenchTask, corpus: PreparedCorpus): Promise<SystemResult> {
  const embeddings = new LocalHashEmbeddings({ dimensions: task.dims });
  const rssBeforeBuildBytes = process.memoryUsage().rss;
  const runs: ExactRun[] = [];
  const neighbors: Neighbors[][] = [];
  for (let r = 0; r < task.repeat; r += 1) {
    const chunkStarted = performance.now();
    let { texts, ids } = chunkCorpus(corpus.documents);
    const chunkingMs = performance.now() - chunkStarted;
    const characters = texts.reduce((sum, t) => sum + t.length, 0);
    const index = new BruteforceSearch('cosine', task.dims);
    index.initIndex(texts.length);
    let embeddingMs = 0;
    let indexingMs = 0;
    for (let i = 0; i < texts.length; i += EMBED_BATCH) {
      const started = performance.now();
      const vectors = await embeddings.embedDocuments(texts.slice(i, i + EMBED_BATCH));
      const embedded = performance.now();
      vectors.forEach((v, j) => index.addPoint(v, i + j));
      embeddingMs += embedded - started;
      indexingMs += performance.now() - embedded;
    }
    const chunks = texts.length;
    const shipped = await createBenchEmbeddings(task.dims);
    const batch = shipped.preferredBatchSize ?? EMBED_BATCH;
    // Called as the store calls it (typed arrays when offered), once untimed so that worker threads have started.
    const embedBatch = (from: number) => {
      const part = texts.slice(from, from + batch);
      return shipped.embedDocumentsToFloat32
        ? shipped.embedDocumentsToFloat32(part)
        : shipped.embedDocuments(part);
    };
    let shippedEmbedder: { ms: number; batch: number };
    try {
      await embedBatch(0);
      const shippedStarted = performance.now();
      for (let i = 0; i < texts.length; i += batch) await embedBatch(i);
      shippedEmbedder = { ms: performance.now() - shippedStarted, batch };
    } finally {
      await shipped.close?.();
    }
    texts = [];

    const vectors: number[][] = [];
    const embedQuery = await measureLatency(corpus.questions, async (q) => {
      vectors.push(await embeddings.embedQuery(q));
    });
    const found: Neighbors[] = [];
    const vector = await measureLatency(vectors, (v, i) => {
      const result = index.searchKnn(v, Math.min(10, chunks));
      if (i < task.recallQueries)
        found.push({
          ids: result.neighbors.map((label) => ids[label] ?? String(label)),
          distances: result.distances,
        });
    });
    ids = [];
    runs.push({
      build: { chunkingMs, embeddingMs, indexingMs, chunks, characters },
      shippedEmbedder,
      latency: { embedQuery, vector },
    });
    neighbors.push(found);
  }
  return {
    system: 'exact',
    corpus: corpus.info,
    runs,
    neighbors,
    peakRssBytes: peakRssBytes(),
    rssBeforeBuildBytes,
    params: {
      embedder: embeddings.id,
      space: 'cosine',
      index: 'BruteforceSearch',
      hnswlib: choice.build,
      embedBatch: EMBED_BATCH,
    },
  };
}
