import { cp, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCorpus, generateQuestions } from '../../../src/cli/bench-corpus.js';
import { createSilentLogger } from '../../../src/logger.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import type { VerbatimEmbeddings } from '../../../src/rag/embeddings/types.js';
import { HnswVectorStore } from '../../../src/rag/store/vector-store.js';
import { temporaryDirectory } from '../../helpers/documents.js';
import { createRecordingLogger } from '../../helpers/logger.js';

const local = new LocalHashEmbeddings({ dimensions: 128 });
const corpus = generateCorpus({ chunks: 300, seed: 11, chunksPerDocument: 6 });
const questions = generateQuestions(20, 12);

/** Counts the texts embedded, to tell a rebuild from stored vectors from a re-embedding. */
function counting(): { embeddings: VerbatimEmbeddings; embedded: () => number } {
  let texts = 0;
  return {
    embeddings: {
      id: local.id,
      dimensions: local.dimensions,
      embedQuery: (t) => local.embedQuery(t),
      embedDocuments: (t) => {
        texts += t.length;
        return local.embedDocuments(t);
      },
    },
    embedded: () => texts,
  };
}

const damages = {
  truncated: async (path: string) => truncate(path, Math.floor((await stat(path)).size / 2)),
  zeroed: async (path: string) => writeFile(path, Buffer.alloc((await stat(path)).size)),
  'bit-flipped': async (path: string) => {
    const bytes = await readFile(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x10;
    await writeFile(path, bytes);
  },
};

describe('damaged data files', () => {
  let pristine: { path: string; cleanup: () => Promise<void> };
  let expected: string[][];
  let queries: number[][];
  const top10 = (store: HnswVectorStore) =>
    Promise.all(queries.map(async (q) => (await store.vectorSearch(q, 10)).map((h) => h.record.id)));

  beforeAll(async () => {
    pristine = await temporaryDirectory();
    queries = await Promise.all(questions.map((q) => local.embedQuery(q)));
    const store = await HnswVectorStore.open({
      dataDir: pristine.path,
      embeddings: local,
      logger: createSilentLogger(),
    });
    await store.sync(corpus);
    expected = await top10(store);
    await store.close();
    expect((await readdir(pristine.path)).sort()).toEqual(
      expect.arrayContaining(['corpus.sqlite', 'index-0.hnsw', 'lexical.bin', 'manifest.json']),
    );
  });
  afterAll(async () => pristine.cleanup());

  const files = ['index-0.hnsw', 'lexical.bin', 'manifest.json', 'corpus.sqlite'] as const;
  const cases = files.flatMap((file) => Object.keys(damages).map((damage) => [file, damage] as const));

  it.each(cases)(
    'detects a %s that was %s, reports it in one line and serves the same corpus again',
    async (file, damage) => {
      const dir = await temporaryDirectory();
      try {
        await cp(pristine.path, dir.path, { recursive: true });
        await damages[damage as keyof typeof damages](join(dir.path, file));
        const { logger, records } = createRecordingLogger();
        const count = counting();
        const store = await HnswVectorStore.open({ dataDir: dir.path, embeddings: count.embeddings, logger });
        try {
          const reports = records.filter((r) => r.code === 'INDEX_CORRUPT' || r.code === 'DATABASE_CORRUPT');
          expect(reports).toHaveLength(1);
          const report = reports[0] as Record<string, unknown>;
          expect(report.code).toBe(file === 'corpus.sqlite' ? 'DATABASE_CORRUPT' : 'INDEX_CORRUPT');
          // What a refresh does after start-up: the corpus folder is the source of truth.
          await store.sync(corpus);
          expect(store.listDocuments().map((d) => d.id)).toEqual(corpus.map((d) => d.id).sort());
          expect(await top10(store)).toEqual(expected);
          // Only a lost document store costs a re-embedding; everything else is rebuilt from stored vectors.
          expect(count.embedded() > 0).toBe(file === 'corpus.sqlite');
        } finally {
          await store.close();
        }
        const clean = createRecordingLogger();
        const reopened = await HnswVectorStore.open({
          dataDir: dir.path,
          embeddings: local,
          logger: clean.logger,
        });
        expect(clean.records.filter((r) => String(r.code ?? '').endsWith('_CORRUPT'))).toEqual([]);
        expect(await top10(reopened)).toEqual(expected);
        await reopened.close();
      } finally {
        await dir.cleanup();
      }
    },
  );

  it.each([
    ['a chunk whose text no longer matches its hash', `UPDATE chunks SET text = 'x' || text WHERE label = 3`],
    [
      'a chunk that is no longer the text of its document',
      `UPDATE documents SET text = 'x' || text WHERE id = (SELECT doc_id FROM chunks WHERE label = 3)`,
    ],
  ])('checks every chunk when the database is newer than the manifest: %s', async (_name, sql) => {
    const dir = await temporaryDirectory();
    try {
      await cp(pristine.path, dir.path, { recursive: true });
      // A crash after a commit and before the index write leaves the database ahead of the manifest: the file
      // checksum cannot apply, so the rows themselves are checked.
      const db = new Database(join(dir.path, 'corpus.sqlite'));
      db.exec(sql);
      db.exec(`UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'`);
      db.close();
      const { logger, records } = createRecordingLogger();
      const store = await HnswVectorStore.open({ dataDir: dir.path, embeddings: local, logger });
      const report = records.find((r) => r.code === 'DATABASE_CORRUPT');
      expect(String(report?.problem)).toMatch(
        /chunk .+ (does not match its hash|is not the text of its document)/,
      );
      await store.sync(corpus);
      expect(await top10(store)).toEqual(expected);
      await store.close();
    } finally {
      await dir.cleanup();
    }
  });
});
