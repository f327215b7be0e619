import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createEmbeddings } from './rag/embeddings/index.js';
import { createQaService, type QaService } from './rag/service.js';
import { HnswVectorStore } from './rag/store/vector-store.js';

/** The assembled core: what the CLI and the bot run on. */
export interface App {
  service: QaService;
  store: HnswVectorStore;
  close(): Promise<void>;
}

/** Collaborators that tests (and only tests) replace. */
export interface AppOverrides {
  fetch?: typeof fetch;
}

/**
 * The composition root: builds the embeddings model, opens the store in `DATA_DIR` and wires the service. Nothing
 * else in the code base constructs concrete collaborators.
 */
export async function createApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  const embeddings = await createEmbeddings(config, { logger, ...(overrides.fetch ? { fetch: overrides.fetch } : {}) });
  const store = await HnswVectorStore.open({
    dataDir: config.DATA_DIR,
    embeddings,
    logger,
    hnsw: { m: config.HNSW_M, efConstruction: config.HNSW_EF_CONSTRUCTION, efSearch: config.HNSW_EF_SEARCH },
    embedBatchSize: config.EMBEDDINGS_BATCH_SIZE,
  });
  const service = createQaService({
    store,
    embeddings,
    logger,
    options: {
      corpusDir: config.CORPUS_DIR,
      maxQuestionLength: config.MAX_QUESTION_LENGTH,
      topK: config.RETRIEVAL_TOP_K,
      extractive: { maxQuotes: config.MAX_QUOTES, minScore: config.RELEVANCE_FLOOR, secondaryRatio: 0.8 },
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
      fetchTimeoutMs: config.FETCH_TIMEOUT_MS,
    },
    ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
  });
  return { service, store, close: () => store.close() };
}
