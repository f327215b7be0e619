import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document } from '@langchain/core/documents';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createSilentLogger } from '../../../src/logger.js';
import { createEmbeddings } from '../../../src/rag/embeddings/index.js';
import type { VerbatimEmbeddings } from '../../../src/rag/embeddings/types.js';
import { HnswVectorStore } from '../../../src/rag/store/vector-store.js';
import { makeDocument, temporaryDirectory } from '../../helpers/documents.js';
import { createRecordingLogger } from '../../helpers/logger.js';

const AZURE = makeDocument(
  'azure',
  'Microsoft a suspendu des services Azure destinés au ministère de la Défense israélien.\n\nUne enquête interne a confirmé la surveillance des appels téléphoniques.',
);
const RECIPE = makeDocument(
  'recette',
  'La pâte à crêpes demande de la farine, des œufs et du lait.\n\nIl faut la laisser reposer une heure avant la cuisson.',
);
const FOOTBALL = makeDocument(
  'football',
  "L'équipe a gagné le match de football grâce à un penalty.\n\nLe stade était plein.",
);

/** Wraps an embedder to count the texts it embeds, and optionally hold each batch until released. */
function countingEmbeddings(inner: VerbatimEmbeddings) {
  const state = {
    texts: 0,
    gate: undefined as Promise<void> | undefined,
    entered: undefined as (() => void) | undefined,
  };
  const wrapped: VerbatimEmbeddings = {
    id: inner.id,
    dimensions: inner.dimensions,
    embedQuery: (t) => inner.embedQuery(t),
    embedDocuments: async (texts) => {
      state.texts += texts.length;
      state.entered?.();
      if (state.gate) await state.gate;
      return inner.embedDocuments(texts);
    },
  };
  return { embeddings: wrapped, state };
}

describe('HnswVectorStore', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let base: VerbatimEmbeddings;
  const stores: HnswVectorStore[] = [];
  const open = async (embeddings: VerbatimEmbeddings, logger = createSilentLogger(), extra = {}) => {
    const store = await HnswVectorStore.open({ dataDir: dir.path, embeddings, logger, ...extra });
    stores.push(store);
    return store;
  };
  const topDoc = async (store: HnswVectorStore, question: string) =>
    (await store.vectorSearch(await base.embedQuery(question), 1))[0]?.record.docId;

  beforeEach(async () => {
    dir = await temporaryDirectory();
    base = await createEmbeddings(loadConfig({}), { logger: createSilentLogger() });
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    await dir.cleanup();
  });

  it('finds an added document by meaning and by words, and records it in the manifest', async () => {
    const store = await open(base);
    const report = await store.sync([AZURE, RECIPE]);
    expect(report.added.sort()).toEqual(['azure', 'recette']);
    expect(await topDoc(store, 'Pourquoi Microsoft a-t-il suspendu Azure ?')).toBe('azure');
    expect(await topDoc(store, 'Comment faire une pâte à crêpes ?')).toBe('recette');
    expect(store.lexicalSearch('farine œufs', 3)[0]?.record.docId).toBe('recette');
    const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      embedder: { id: base.id, dimensions: base.dimensions },
      counts: { documents: 2, chunks: store.chunkCount },
      hnsw: {
        space: 'cosine',
        m: 24,
        efConstruction: 64,
        efSearch: 400,
        rerank: 50,
        graphDimensions: base.dimensions,
      },
    });
    expect(manifest.graphs[0].sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('works through LangChain interfaces: similaritySearch, asRetriever, addDocuments and delete', async () => {
    const store = await open(base);
    await store.addDocuments([
      new Document({ pageContent: RECIPE.text, metadata: { id: 'recette', title: 'Crêpes' } }),
    ]);
    await store.sync([AZURE, RECIPE]);
    const [hit] = await store.similaritySearchWithScore('services Azure du ministère de la Défense', 1);
    expect(hit?.[0].metadata).toMatchObject({ docId: 'azure', title: AZURE.title });
    expect(hit?.[1]).toBeGreaterThan(0);
    const docs = await store.asRetriever({ k: 1 }).invoke('farine et œufs pour les crêpes');
    expect(docs[0]?.metadata.docId).toBe('recette');
    await store.delete({ ids: ['recette'] });
    expect(store.listDocuments().map((d) => d.id)).toEqual(['azure']);
  });

  it('never embeds an unchanged document twice, across restarts', async () => {
    const counting = countingEmbeddings(base);
    const first = await open(counting.embeddings);
    await first.sync([AZURE, RECIPE]);
    await first.close();
    const embeddedBefore = counting.state.texts;
    expect(embeddedBefore).toBeGreaterThan(0);

    const second = await open(counting.embeddings);
    const report = await second.sync([AZURE, RECIPE]);
    expect(report.unchanged.sort()).toEqual(['azure', 'recette']);
    expect(report.chunksEmbedded).toBe(0);
    expect(counting.state.texts).toBe(embeddedBefore);
    expect(await topDoc(second, 'surveillance des appels téléphoniques')).toBe('azure');
  });

  it('serves the same passages after a restart, each the text of its document at its offsets', async () => {
    const first = await open(base);
    await first.sync([AZURE, RECIPE, FOOTBALL]);
    const question = await base.embedQuery('la surveillance des appels et les services Azure');
    const before = (await first.vectorSearch(question, 10)).map((h) => h.record);
    await first.close();

    const second = await open(base);
    const after = (await second.vectorSearch(question, 10)).map((h) => h.record);
    expect(after).toEqual(before);
    expect(after).toHaveLength(3);
    const texts = new Map([AZURE, RECIPE, FOOTBALL].map((d) => [d.id, d.text]));
    for (const record of after) {
      expect(record.text.length).toBeGreaterThan(0);
      expect(record.text).toBe(texts.get(record.docId)?.slice(record.start, record.end));
    }
    expect(second.lexicalSearch('penalty stade', 1)[0]?.record.text).toContain('penalty');
  });

  it('re-embeds only the changed passages of a changed document', async () => {
    const counting = countingEmbeddings(base);
    const store = await open(counting.embeddings, createSilentLogger());
    const longer = makeDocument(
      'azure',
      [
        AZURE.text,
        'Le ministère a reçu la décision par courrier.',
        'Les ingénieurs ont documenté chaque étape du projet.',
        'Une commission parlementaire demande des explications.',
        'Les syndicats de l’entreprise ont publié un communiqué.',
        'Le conseil d’administration se réunira en novembre.',
        'Plusieurs clients européens suivent le dossier de près.',
      ].join('\n\n'),
    );
    await store.sync([longer]);
    const chunksBefore = store.chunkCount;
    const before = counting.state.texts;
    const edited = makeDocument('azure', `${longer.text}\n\nAmazon reste silencieuse à ce sujet.`);
    const report = await store.sync([edited]);
    expect(report.changed).toEqual(['azure']);
    expect(chunksBefore).toBeGreaterThan(2);
    // Only the passages that contain or neighbour the new sentence are embedded again.
    expect(report.chunksEmbedded).toBeGreaterThan(0);
    expect(report.chunksEmbedded).toBeLessThan(store.chunkCount);
    expect(counting.state.texts - before).toBe(report.chunksEmbedded);
    expect(store.lexicalSearch('Amazon silencieuse', 1)[0]?.record.docId).toBe('azure');
  });

  it('removes a document from both vector and lexical results', async () => {
    const store = await open(base);
    await store.sync([AZURE, RECIPE, FOOTBALL]);
    expect(store.lexicalSearch('farine', 5).map((h) => h.record.docId)).toContain('recette');
    const report = await store.remove(['recette']);
    expect(report.removed).toEqual(['recette']);
    const vector = await store.vectorSearch(await base.embedQuery('pâte à crêpes farine œufs lait'), 10);
    expect(vector.map((h) => h.record.docId)).not.toContain('recette');
    expect(store.lexicalSearch('farine œufs lait crêpes', 10).map((h) => h.record.docId)).not.toContain(
      'recette',
    );
    expect(store.listDocuments().map((d) => d.id)).toEqual(['azure', 'football']);
    expect(store.documentCount).toBe(2);
    expect(store.sortedDocuments().map((d) => d.id)).toEqual(['azure', 'football']);
  });

  it('keeps the documents sorted by id through changes and a restart, each in its current version', async () => {
    const store = await open(base);
    await store.sync([RECIPE, AZURE]);
    await store.upsert([FOOTBALL, { ...AZURE, title: 'Azure, la suite', contentHash: 'changed' }]);
    await store.remove(['recette']);
    const expected = [
      ['azure', 'Azure, la suite'],
      ['football', FOOTBALL.title],
    ];
    expect(store.sortedDocuments().map((d) => [d.id, d.title])).toEqual(expected);
    await store.close();
    const reopened = await open(base);
    expect(reopened.sortedDocuments().map((d) => [d.id, d.title])).toEqual(expected);
  });

  it('drops the stored index and rebuilds when the embedder no longer matches the manifest', async () => {
    const first = await open(base);
    await first.sync([AZURE]);
    await first.close();
    const other = await createEmbeddings(loadConfig({ LOCAL_EMBEDDINGS_DIMENSIONS: '256' }), {
      logger: createSilentLogger(),
    });
    const { logger, records } = createRecordingLogger();
    const second = await open(other, logger);
    expect(records.some((r) => r.code === 'INDEX_MISMATCH')).toBe(true);
    expect(second.chunkCount).toBe(0);
    const report = await second.sync([AZURE]);
    expect(report.rebuilt).toBe(true);
    expect(report.changed).toEqual(['azure']);
    expect(second.manifest?.embedder).toEqual({ id: other.id, dimensions: 256 });
    expect((await second.vectorSearch(await other.embedQuery('Azure Microsoft'), 1))[0]?.record.docId).toBe(
      'azure',
    );
  });

  it.each([
    ['truncated', async (path: string) => truncate(path, Math.floor((await stat(path)).size / 2))],
    [
      'corrupted',
      async (path: string) => {
        const bytes = await readFile(path);
        bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
        await writeFile(path, bytes);
      },
    ],
    ['deleted', async (path: string) => writeFile(path, '')],
  ])(
    'detects a %s index file and rebuilds it from stored vectors without re-embedding',
    async (_name, damage) => {
      const counting = countingEmbeddings(base);
      const first = await open(counting.embeddings);
      await first.sync([AZURE, RECIPE]);
      await first.close();
      await damage(join(dir.path, 'index-0.hnsw'));
      const embedded = counting.state.texts;

      const { logger, records } = createRecordingLogger();
      const second = await open(counting.embeddings, logger);
      expect(records.some((r) => r.code === 'INDEX_CORRUPT')).toBe(true);
      expect(counting.state.texts).toBe(embedded);
      expect(second.chunkCount).toBe(first.chunkCount);
      expect(await topDoc(second, 'crêpes farine')).toBe('recette');
      const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
      expect(manifest.graphs[0].bytes).toBe((await stat(join(dir.path, 'index-0.hnsw'))).size);
    },
  );

  it('reloads the saved BM25 index, and rebuilds it from the texts when its file is damaged', async () => {
    const first = await open(base);
    await first.sync([AZURE, RECIPE, FOOTBALL]);
    const before = first.lexicalSearch('farine œufs match penalty Azure', 10);
    expect(before.length).toBeGreaterThan(1);
    await first.close();
    const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
    expect(manifest.lexical.bytes).toBe((await stat(join(dir.path, 'lexical.bin'))).size);
    const { logger, records } = createRecordingLogger();
    const second = await open(base, logger);
    expect(second.lexicalSearch('farine œufs match penalty Azure', 10)).toEqual(before);
    expect(records.some((r) => r.code === 'INDEX_CORRUPT')).toBe(false);
    await second.close();
    const bytes = await readFile(join(dir.path, 'lexical.bin'));
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0xff;
    await writeFile(join(dir.path, 'lexical.bin'), bytes);
    const damaged = createRecordingLogger();
    const third = await open(base, damaged.logger);
    expect(damaged.records.some((r) => r.code === 'INDEX_CORRUPT' && String(r.msg).includes('lexical'))).toBe(
      true,
    );
    expect(third.lexicalSearch('farine œufs match penalty Azure', 10)).toEqual(before);
  });

  it('catches up an index file left one change behind the database, without rebuilding or re-embedding', async () => {
    const first = await open(base);
    await first.sync([AZURE]);
    const staleIndex = await readFile(join(dir.path, 'index-0.hnsw'));
    const staleManifest = await readFile(join(dir.path, 'manifest.json'));
    await first.sync([AZURE, RECIPE]);
    await first.close();
    await writeFile(join(dir.path, 'index-0.hnsw'), staleIndex);
    await writeFile(join(dir.path, 'manifest.json'), staleManifest);

    const { logger, records } = createRecordingLogger();
    const counting = countingEmbeddings(base);
    const second = await open(counting.embeddings, logger);
    expect(records.some((r) => r.code === 'INDEX_CORRUPT')).toBe(false);
    expect(records.some((r) => r.msg === 'hnsw index behind the database: catching up')).toBe(true);
    expect(counting.state.texts).toBe(0);
    expect(second.listDocuments().map((d) => d.id)).toEqual(['azure', 'recette']);
    expect(await topDoc(second, 'crêpes farine œufs')).toBe('recette');
    expect(second.manifest?.generation).toBe(2);
    await second.remove(['recette']);
    await second.close();
    await writeFile(join(dir.path, 'index-0.hnsw'), staleIndex);
    await writeFile(join(dir.path, 'manifest.json'), staleManifest);
    const third = await open(base);
    expect(third.listDocuments().map((d) => d.id)).toEqual(['azure']);
    expect(
      (await third.vectorSearch(await base.embedQuery('crêpes farine œufs'), 5)).map((h) => h.record.docId),
    ).toEqual(['azure']);
  });

  it('keeps serving the previous corpus while a change is being embedded, then switches at once', async () => {
    const counting = countingEmbeddings(base);
    const store = await open(counting.embeddings);
    await store.sync([AZURE]);
    let release!: () => void;
    counting.state.gate = new Promise<void>((resolve) => (release = resolve));
    const entered = new Promise<void>((resolve) => (counting.state.entered = resolve));
    const pending = store.sync([AZURE, RECIPE]);
    await entered;
    expect(store.listDocuments().map((d) => d.id)).toEqual(['azure']);
    expect(store.lexicalSearch('farine', 5)).toEqual([]);
    expect(await topDoc(store, 'crêpes')).toBe('azure');
    release();
    await pending;
    expect(store.listDocuments().map((d) => d.id)).toEqual(['azure', 'recette']);
    expect(store.lexicalSearch('farine', 5)[0]?.record.docId).toBe('recette');
  });

  it('debounces index writes: one write for quick successive changes, flushed on close', async () => {
    const store = await open(base, createSilentLogger(), { persistDelayMs: 60_000 });
    await store.sync([AZURE]);
    const before = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
    await store.sync([AZURE, RECIPE]);
    await store.remove(['azure']);
    expect(store.corpusVersion).toMatch(/^3:/);
    await store.close();
    const manifest = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8'));
    expect(before.generation).toBe(0);
    expect(manifest).toMatchObject({ generation: 3, counts: { documents: 1 } });
    const reopened = await open(base);
    expect(reopened.listDocuments().map((d) => d.id)).toEqual(['recette']);
  });

  it('lets the event loop run while a large corpus is indexed', async () => {
    const store = await open(base, createSilentLogger(), { embedBatchSize: 32 });
    const sentences = Array.from(
      { length: 600 },
      (_, i) => `Phrase numéro ${i} sur le sujet ${i % 17} du corpus de test.`,
    );
    const big = makeDocument('big', sentences.join('\n\n'));
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks += 1;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    await store.sync([big]);
    running = false;
    expect(store.chunkCount).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(store.chunkCount / 32 / 2);
  });

  it('compacts the hnsw index once deleted slots pass the threshold', async () => {
    const store = await open(base, createSilentLogger(), { maxDeletedRatio: 0.4 });
    await store.sync([AZURE, RECIPE, FOOTBALL]);
    await store.remove(['recette']);
    const afterOne = store.manifest?.counts.deletedSlots ?? 0;
    await store.remove(['football']);
    expect(afterOne).toBeGreaterThan(0);
    expect(store.manifest?.counts.deletedSlots).toBe(0);
    expect(await topDoc(store, 'Azure')).toBe('azure');
  });
});
