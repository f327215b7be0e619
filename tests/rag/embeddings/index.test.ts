import { ParallelLocalEmbeddings } from '../../../src/rag/embeddings/parallel.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createSilentLogger } from '../../../src/logger.js';
import { createEmbeddings } from '../../../src/rag/embeddings/index.js';
import { LocalHashEmbeddings } from '../../../src/rag/embeddings/local.js';
import { OpenAICompatibleEmbeddings } from '../../../src/rag/embeddings/openai.js';
import { startOpenAIDouble, type OpenAIDouble } from '../../helpers/openai-double.js';

describe('createEmbeddings', () => {
  let double: OpenAIDouble | undefined;
  afterEach(async () => {
    await double?.close();
    double = undefined;
  });

  it('picks the local embedder by default, with the configured dimensions', async () => {
    const embeddings = await createEmbeddings(loadConfig({ LOCAL_EMBEDDINGS_DIMENSIONS: '512' }), {
      logger: createSilentLogger(),
    });
    expect(embeddings).toBeInstanceOf(ParallelLocalEmbeddings);
    expect(embeddings.dimensions).toBe(512);
    expect(embeddings.id).toMatch(/^local-hash-v1.*:512$/);
  });

  it('builds the glossary index at start-up for the local embedder, not at its first question', async () => {
    vi.resetModules();
    const glossary = await import('../../../src/rag/text/glossary.js');
    const factory = await import('../../../src/rag/embeddings/index.js');
    expect(glossary.glossaryIndexBuilt()).toBe(false);
    const embeddings = await factory.createEmbeddings(loadConfig({}), { logger: createSilentLogger() });
    expect(glossary.glossaryIndexBuilt()).toBe(true);
    expect(await embeddings.embedQuery('Azure')).toEqual(
      new LocalHashEmbeddings({ dimensions: embeddings.dimensions }).embed('Azure'),
    );
  });

  it('picks the OpenAI-compatible client when configured, probing its dimensions', async () => {
    double = await startOpenAIDouble({ embeddingDimensions: 24 });
    const config = loadConfig({
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_BASE_URL: double.origin,
      EMBEDDINGS_MODEL: 'nomic-embed-text',
      EMBEDDINGS_API_KEY: 'sk-local',
    });
    const embeddings = await createEmbeddings(config, { logger: createSilentLogger() });
    expect(embeddings).toBeInstanceOf(OpenAICompatibleEmbeddings);
    expect(embeddings.dimensions).toBe(24);
    expect(embeddings.id).toContain('openai:nomic-embed-text@');
    expect(double.requestsTo('/v1/embeddings')[0]?.headers.authorization).toBe('Bearer sk-local');
  });

  it('uses the injected fetch and EMBEDDINGS_DIMENSIONS without probing', async () => {
    double = await startOpenAIDouble({ embeddingDimensions: 24 });
    let calls = 0;
    const countingFetch: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const config = loadConfig({
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_BASE_URL: double.baseURL,
      EMBEDDINGS_MODEL: 'm',
      EMBEDDINGS_DIMENSIONS: '24',
    });
    const embeddings = await createEmbeddings(config, { logger: createSilentLogger(), fetch: countingFetch });
    expect(calls).toBe(0);
    await embeddings.embedQuery('x');
    expect(calls).toBe(1);
  });
});
