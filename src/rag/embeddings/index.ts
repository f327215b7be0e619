import type { Config } from '../../config.js';
import { AppError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { prepareGlossary } from '../text/glossary.js';
import { ParallelLocalEmbeddings } from './parallel.js';
import { OpenAICompatibleEmbeddings } from './openai.js';
import type { VerbatimEmbeddings } from './types.js';

export type { VerbatimEmbeddings } from './types.js';
export { LocalHashEmbeddings } from './local.js';
export { OpenAICompatibleEmbeddings } from './openai.js';

/** Collaborators of {@link createEmbeddings}. */
export interface EmbeddingsDeps {
  logger: Logger;
  /** HTTP client of the OpenAI-compatible provider; the global `fetch` by default. */
  fetch?: typeof fetch;
}

/**
 * Builds the embeddings model the configuration asks for: the only place that picks a provider. With
 * `EMBEDDINGS_PROVIDER=openai` and no `EMBEDDINGS_DIMENSIONS`, one probe request learns the vector length, so a
 * wrong URL, model or key fails here, at start-up, rather than in the middle of indexing. The local embedder's
 * glossary index is built here too, rather than on the event loop during the first question or refresh.
 */
export async function createEmbeddings(config: Config, deps: EmbeddingsDeps): Promise<VerbatimEmbeddings> {
  const log = deps.logger.child({ component: 'embeddings' });
  if (config.EMBEDDINGS_PROVIDER === 'local') {
    const embeddings = new ParallelLocalEmbeddings({ dimensions: config.LOCAL_EMBEDDINGS_DIMENSIONS });
    prepareGlossary();
    log.debug({ id: embeddings.id }, 'using local hashed embeddings');
    return embeddings;
  }
  const baseURL = config.EMBEDDINGS_BASE_URL;
  const model = config.EMBEDDINGS_MODEL;
  if (!baseURL || !model)
    throw new AppError(
      ErrorCode.CONFIG_INVALID,
      'EMBEDDINGS_BASE_URL and EMBEDDINGS_MODEL are required when EMBEDDINGS_PROVIDER=openai',
    );
  const embeddings = await OpenAICompatibleEmbeddings.create({
    baseURL,
    model,
    apiKey: config.EMBEDDINGS_API_KEY,
    dimensions: config.EMBEDDINGS_DIMENSIONS,
    batchSize: config.EMBEDDINGS_BATCH_SIZE,
    maxRetries: config.EMBEDDINGS_MAX_RETRIES,
    timeoutMs: config.EMBEDDINGS_TIMEOUT_MS,
    logger: deps.logger,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  log.info({ id: embeddings.id }, 'using OpenAI-compatible embeddings');
  return embeddings;
}
