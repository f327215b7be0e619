import { describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../../src/logger.js';
import { chunkDocument } from '../../../src/rag/chunking/chunks.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { sentenceSpans, withSentenceSpans } from '../../../src/rag/store/database.js';
import { HnswVectorStore } from '../../../src/rag/store/vector-store.js';
import { makeDocument, temporaryDirectory } from '../../helpers/documents.js';

const ARTICLE = makeDocument(
  'azure',
  'Microsoft a suspendu des services. L’enquête interne a duré trois semaines ! Que reste-t-il ?\n\n' +
    'L’unité 8200 perd l’accès à Azure. Les appels restent stockés aux Pays-Bas.',
);

describe('documents with sentences kept as offsets', () => {
  it('reads back the chunker’s sentences, also from a spread copy and from JSON', () => {
    const { sentences } = chunkDocument(ARTICLE);
    expect(sentences.length).toBeGreaterThan(3);
    const stored = withSentenceSpans(
      { ...ARTICLE, indexedAt: '2026-11-29T00:00:00Z', size: ARTICLE.text.length },
      sentenceSpans(sentences),
    );
    expect(stored.sentences).toEqual(sentences);
    expect({ ...stored }.sentences).toEqual(sentences);
    expect((JSON.parse(JSON.stringify(stored)) as typeof stored).sentences).toEqual(sentences);
    for (const s of stored.sentences) expect(s.text).toBe(ARTICLE.text.slice(s.start, s.end));
  });

  it('serves the same sentences after a change and after a restart', async () => {
    const dir = await temporaryDirectory();
    const embeddings = new LocalHashEmbeddings({ dimensions: 64 });
    const open = () => HnswVectorStore.open({ dataDir: dir.path, embeddings, logger: createSilentLogger() });
    try {
      const expected = chunkDocument(ARTICLE).sentences;
      const store = await open();
      await store.upsert([ARTICLE]);
      expect(store.getDocument('azure')?.sentences).toEqual(expected);
      await store.close();
      const reopened = await open();
      expect(reopened.getDocument('azure')?.sentences).toEqual(expected);
      await reopened.close();
    } finally {
      await dir.cleanup();
    }
  });
});
