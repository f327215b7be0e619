import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCorpus, generateQuestions } from '../../../src/cli/bench-corpus.js';
import { createSilentLogger } from '../../../src/logger.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { loadHnswlib } from '../../../src/rag/store/hnswlib.js';
import { HnswVectorStore, type HnswStoreOptions } from '../../../src/rag/store/vector-store.js';
import { temporaryDirectory } from '../../helpers/documents.js';
import { createRecordingLogger } from '../../helpers/logger.js';

const embeddings = new LocalHashEmbeddings({ dimensions: 128 });
const corpus = generateCorpus({ chunks: 400, seed: 7, chunksPerDocument: 8 });
const questions = generateQuestions(25, 8);

/** Exact top-10 chunk ids over every chunk the store serves, from the vectors the store itself holds. */
async function exactTop10(store: HnswVectorStore, dataDir: string, queries: number[][]): Promise<string[][]> {
  const rows = (await import('better-sqlite3')).default(join(dataDir, 'corpus.sqlite'), { readonly: true });
  const chunks = rows.prepare('SELECT label, id, vector FROM chunks').all() as {
    label: number;
    id: string;
    vector: Buffer;
  }[];
  rows.close();
  const exact = new hnswlib.BruteforceSearch('cosine', embeddings.dimensions);
  exact.initIndex(chunks.length);
  const idOf = new Map<number, string>();
  for (const c of chunks) {
    exact.addPoint(
      Array.from(new Float32Array(c.vector.buffer, c.vector.byteOffset, c.vector.byteLength / 4)),
      c.label,
    );
    idOf.set(c.label, c.id);
  }
  expect(chunks.length).toBe(store.chunkCount);
  return queries.map((q) => exact.searchKnn(q, 10).neighbors.map((l) => idOf.get(l) as string));
}

/** The ids of the store's top 10 chunks for each query. */
function top10Of(store: HnswVectorStore, queries: number[][]): Promise<string[][]> {
  return Promise.all(queries.map(async (q) => (await store.vectorSearch(q, 10)).map((h) => h.record.id)));
}

/** A store in `dataDir` whose graphs move to two worker threads from 100 chunks. */
function openWorkerStore(
  dataDir: string,
  extra: Partial<HnswStoreOptions>,
  logger = createSilentLogger(),
): Promise<HnswVectorStore> {
  return HnswVectorStore.open({ dataDir, embeddings, logger, threads: 2, parallelMinChunks: 100, ...extra });
}

/**
 * Every case runs on graphs of the full vectors and on projected graphs. A projected graph here re-ranks more
 * candidates than it holds points, so its answers must be exact too: what these cases check is the plumbing (files,
 * manifest, reloading, damage); the projection's quality is checked in projection.test.ts.
 */
describe.each([
  { variant: 'full vectors', graphDimensions: 0, rerank: 100, damaged: 'index-1.hnsw' },
  { variant: 'projected vectors', graphDimensions: 32, rerank: 400, damaged: 'index-1.vectors' },
  // With the int8 addon, projected points stay in scans up to the limit: 50 makes every graph outgrow its scan.
  {
    variant: 'projected vectors past the scan limit',
    graphDimensions: 32,
    rerank: 400,
    damaged: 'index-1.vectors',
    scanLimit: 50,
  },
])('hnsw graphs in worker threads, on $variant', ({ graphDimensions, rerank, damaged, scanLimit }) => {
  const projected = graphDimensions > 0;
  let dir: { path: string; cleanup: () => Promise<void> };
  const stores: HnswVectorStore[] = [];
  let queries: number[][];
  const open = async (extra: Partial<HnswStoreOptions> = {}, logger = createSilentLogger()) => {
    const store = await openWorkerStore(
      dir.path,
      { graphDimensions, hnsw: { rerank }, ...(scanLimit === undefined ? {} : { scanLimit }), ...extra },
      logger,
    );
    stores.push(store);
    return store;
  };
  const top10 = (store: HnswVectorStore) => top10Of(store, queries);

  beforeEach(async () => {
    dir = await temporaryDirectory();
    queries = await Promise.all(questions.map((q) => embeddings.embedQuery(q)));
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    await dir.cleanup();
  });

  it('builds one graph per thread, saves each with its checksum, and finds what exact search finds', async () => {
    const store = await open();
    await store.sync(corpus);
    expect(store.graphLayout).toEqual({ graphs: 2, threads: 2 });
    const files = (await readdir(dir.path)).filter((f) => f.startsWith('index-')).sort();
    const graphs = ['index-0.hnsw', 'index-1.hnsw'];
    const vectors = projected ? ['index-0.vectors', 'index-1.vectors'] : [];
    expect(files).toEqual([...graphs, ...vectors].sort());
    const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
    expect(manifest.layout).toEqual({ threads: 2 });
    expect(manifest.hnsw.graphDimensions).toBe(projected ? graphDimensions : embeddings.dimensions);
    expect(manifest.graphs.map((g: { file: string }) => g.file)).toEqual(graphs);
    expect(manifest.graphs.flatMap((g: { vectors?: { file: string } }) => g.vectors?.file ?? [])).toEqual(
      vectors,
    );
    expect(await top10(store)).toEqual(await exactTop10(store, dir.path, queries));
  });

  it('reopens the saved graphs without rebuilding them, and serves changes from them', async () => {
    const first = await open();
    await first.sync(corpus);
    const before = await top10(first);
    await first.close();
    const { logger, records } = createRecordingLogger();
    const second = await open({}, logger);
    expect(records.some((r) => r.code === 'INDEX_CORRUPT')).toBe(false);
    expect(second.graphLayout.graphs).toBe(2);
    expect(await top10(second)).toEqual(before);

    const removed = before[0]?.[0]?.split('#')[0] as string;
    await second.remove([removed]);
    const after = await top10(second);
    expect(after.flat().some((id) => id.startsWith(`${removed}#`))).toBe(false);
    expect(after).toEqual(await exactTop10(second, dir.path, queries));
  });

  it('rebuilds from stored vectors when one graph file is damaged, and never loads it', async () => {
    const first = await open();
    await first.sync(corpus);
    const before = await top10(first);
    await first.close();
    const path = join(dir.path, damaged);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x40;
    await writeFile(path, bytes);
    const { logger, records } = createRecordingLogger();
    const second = await open({}, logger);
    const warning = records.find((r) => r.code === 'INDEX_CORRUPT');
    expect(String(warning?.problem)).toContain(damaged);
    expect(await top10(second)).toEqual(before);
  });

  it('moves the graphs back to the main thread when worker threads are turned off', async () => {
    const first = await open();
    await first.sync(corpus);
    const before = await top10(first);
    await first.close();
    const second = await open({ threads: 0 });
    expect(second.graphLayout).toEqual({ graphs: 1, threads: 0 });
    expect(await top10(second)).toEqual(before);
    expect((await readdir(dir.path)).filter((f) => f.startsWith('index-'))).toEqual(['index-0.hnsw']);
  });

  it('keeps a small index on the main thread and moves it to workers when a change outgrows it', async () => {
    const store = await open();
    await store.sync(corpus.slice(0, 2));
    expect(store.graphLayout.threads).toBe(0);
    await store.upsert(corpus.slice(2));
    expect(store.graphLayout).toEqual({ graphs: 2, threads: 2 });
    expect(await top10(store)).toEqual(await exactTop10(store, dir.path, queries));
  });

  it('serves the previous corpus while a change is being indexed', async () => {
    const store = await open();
    await store.sync(corpus.slice(0, 30));
    const before = await top10(store);
    let during: Promise<string[][]> | undefined;
    await store.upsert(corpus.slice(30), (progress) => {
      if (progress.phase === 'indexing') during ??= top10(store);
    });
    expect(during).toBeDefined();
    expect(await during).toEqual(before);
    expect(await top10(store)).toEqual(await exactTop10(store, dir.path, queries));
  });
});

describe('a change of HNSW_GRAPH_DIMENSIONS', () => {
  it('rebuilds the graphs from the stored vectors on the next start, with the new dimensions', async () => {
    const dir = await temporaryDirectory();
    const queries = await Promise.all(questions.map((q) => embeddings.embedQuery(q)));
    const open = (graphDimensions: number, logger = createSilentLogger()) =>
      openWorkerStore(dir.path, { graphDimensions, hnsw: { rerank: 400 } }, logger);
    try {
      const projected = await open(32);
      await projected.sync(corpus);
      await projected.close();
      expect((await readdir(dir.path)).filter((f) => f.endsWith('.vectors'))).toHaveLength(2);

      const { logger, records } = createRecordingLogger();
      const full = await open(0, logger);
      try {
        expect(records.find((r) => r.code === 'INDEX_CORRUPT')?.problem).toBe('hnsw parameters differ');
        const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
        expect(manifest.hnsw.graphDimensions).toBe(embeddings.dimensions);
        expect((await readdir(dir.path)).filter((f) => f.endsWith('.vectors'))).toEqual([]);
        expect(await top10Of(full, queries)).toEqual(await exactTop10(full, dir.path, queries));
      } finally {
        await full.close();
      }
    } finally {
      await dir.cleanup();
    }
  });
});

describe.runIf(loadHnswlib().int8 !== undefined)('a change of HNSW_INT8', () => {
  it('rebuilds projected graphs stored as floats into int8 ones on the next start, and back', async () => {
    const dir = await temporaryDirectory();
    const queries = await Promise.all(questions.map((q) => embeddings.embedQuery(q)));
    const open = (int8Graphs: boolean, logger = createSilentLogger()) =>
      openWorkerStore(dir.path, { graphDimensions: 32, hnsw: { rerank: 400 }, int8Graphs }, logger);
    const manifestCodes = async () =>
      (JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8')) as { hnsw: { codes?: string } })
        .hnsw.codes;
    try {
      const floats = await open(false);
      await floats.sync(corpus);
      await floats.close();
      expect(await manifestCodes()).toBe('float32');

      for (const int8Graphs of [true, false]) {
        const { logger, records } = createRecordingLogger();
        const store = await open(int8Graphs, logger);
        try {
          expect(records.find((r) => r.code === 'INDEX_CORRUPT')?.problem).toBe('graph codes differ');
          expect(await manifestCodes()).toBe(int8Graphs ? 'int8' : 'float32');
          expect(await top10Of(store, queries)).toEqual(await exactTop10(store, dir.path, queries));
        } finally {
          await store.close();
        }
      }
    } finally {
      await dir.cleanup();
    }
  });
});
