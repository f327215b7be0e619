import { describe, expect, it } from 'vitest';
import { generateCorpus } from '../../../src/cli/bench-corpus.js';
import { createSilentLogger } from '../../../src/logger.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { corpusHash, updateCorpusHash } from '../../../src/rag/store/manifest.js';
import { HnswVectorStore } from '../../../src/rag/store/vector-store.js';
import { makeDocument, temporaryDirectory } from '../../helpers/documents.js';

const key = (id: string, contentHash: string) => ({ id, contentHash });

describe('corpusHash', () => {
  it('does not depend on order, and an update equals hashing the resulting corpus', () => {
    const a = key('a', '1');
    const b = key('b', '2');
    const c = key('c', '3');
    const b2 = key('b', '2bis');
    expect(corpusHash([a, b, c])).toBe(corpusHash([c, a, b]));
    expect(updateCorpusHash(corpusHash([a, b]), [b], [b2, c])).toBe(corpusHash([a, b2, c]));
    expect(corpusHash([a, b2])).not.toBe(corpusHash([a, b]));
    expect(updateCorpusHash(corpusHash([a]), [a], [])).toBe(corpusHash([]));
  });

  it('is kept up to date by the store across adds, changes and removals without rehashing the corpus', async () => {
    const dir = await temporaryDirectory();
    const store = await HnswVectorStore.open({
      dataDir: dir.path,
      embeddings: new LocalHashEmbeddings({ dimensions: 64 }),
      logger: createSilentLogger(),
    });
    try {
      const docs = generateCorpus({ chunks: 120, seed: 3, chunksPerDocument: 4 });
      const expectHash = () => expect(store.manifest?.corpusHash).toBe(corpusHash(store.listDocuments()));
      await store.sync(docs.slice(0, 20));
      expectHash();
      const before = store.corpusVersion;
      await store.upsert([makeDocument(docs[3]?.id ?? '', 'Un texte entièrement réécrit pour ce document.')]);
      expectHash();
      expect(store.corpusVersion).not.toBe(before);
      await store.remove([docs[5]?.id ?? '']);
      expectHash();
      await store.sync(docs.slice(10));
      expectHash();
    } finally {
      await store.close();
      await dir.cleanup();
    }
  });
});
