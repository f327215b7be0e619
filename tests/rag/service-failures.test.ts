import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import { createEmbeddings } from '../../src/rag/embeddings/index.js';
import type { VerbatimEmbeddings } from '../../src/rag/embeddings/types.js';
import { createQaService, type QaService } from '../../src/rag/service.js';
import { HnswVectorStore } from '../../src/rag/store/vector-store.js';
import { temporaryDirectory } from '../helpers/documents.js';

describe('QaService when indexing fails midway', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let store: HnswVectorStore;
  let service: QaService;
  let corpusDir: string;

  beforeEach(async () => {
    root = await temporaryDirectory();
    corpusDir = join(root.path, 'corpus');
    await mkdir(corpusDir);
    await copyFile('corpus/microsoft-azure-israel-defense.md', join(corpusDir, 'seed.md'));
    const real = await createEmbeddings(loadConfig({}), { logger: createSilentLogger() });
    const flaky: VerbatimEmbeddings = {
      id: real.id,
      dimensions: real.dimensions,
      embedQuery: (t) => real.embedQuery(t),
      embedDocuments: async (texts) => {
        if (texts.some((t) => t.includes('PANNE'))) throw new Error('embeddings service crashed');
        return real.embedDocuments(texts);
      },
    };
    store = await HnswVectorStore.open({
      dataDir: join(root.path, 'data'),
      embeddings: flaky,
      logger: createSilentLogger(),
    });
    service = createQaService({
      store,
      embeddings: flaky,
      logger: createSilentLogger(),
      options: {
        corpusDir,
        maxQuestionLength: 500,
        topK: 6,
        extractive: { maxQuotes: 3, minScore: 0.25, secondaryRatio: 0.8 },
        maxUploadBytes: 1 << 20,
        fetchTimeoutMs: 1000,
      },
    });
    await service.refresh();
  });
  afterEach(async () => {
    await store.close();
    await root.cleanup();
  });

  it('an add that crashes while embedding leaves the previous corpus, files and index serving', async () => {
    const versionBefore = service.corpusVersion;
    await expect(
      service.addDocument({
        fileName: 'panne.txt',
        content: Buffer.from('Titre\n\nUne PANNE survient pendant l’indexation.'),
      }),
    ).rejects.toThrow('embeddings service crashed');
    expect(await readdir(corpusDir)).toEqual(['seed.md']);
    expect(service.listDocuments().map((d) => d.id)).toEqual(['microsoft-azure-israel-defense']);
    expect(service.corpusVersion).toBe(versionBefore);
    expect((await service.ask('Qui est Brad Smith ?')).kind).toBe('answer');
  });

  it('a refresh that crashes while embedding leaves the previous index serving, and a later refresh succeeds', async () => {
    const { writeFile, rm } = await import('node:fs/promises');
    await writeFile(join(corpusDir, 'panne.txt'), 'Titre\n\nUne PANNE survient pendant l’indexation.');
    await expect(service.refresh()).rejects.toThrow('embeddings service crashed');
    expect(service.listDocuments().map((d) => d.id)).toEqual(['microsoft-azure-israel-defense']);
    expect((await service.ask('Qui est Brad Smith ?')).kind).toBe('answer');
    await rm(join(corpusDir, 'panne.txt'));
    expect(await service.refresh()).toMatchObject({
      kind: 'refreshed',
      unchanged: ['microsoft-azure-israel-defense'],
    });
  });
});
