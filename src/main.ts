import { startBot } from './bot/bot.js';
import { loadConfig, type Config } from './config.js';
import { AppError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createEmbeddings } from './rag/embeddings/index.js';
import { createChatModel } from './rag/llm/chat-model.js';
import { CorpusReaderPool } from './rag/corpus/index.js';
import { createQaService, type QaOptions, type QaService } from './rag/service.js';
import { HnswVectorStore, type HnswStoreOptions } from './rag/store/vector-store.js';

/** The assembled core: what the CLI and the bot run on. */
export interface App {
  service: QaService;
  store: HnswVectorStore;
  close(): Promise<void>;
}

/** The store's tuning, read from the configuration (shared with the benchmark, which opens its own stores). */
export function storeOptions(
  config: Config,
): Pick<
  HnswStoreOptions,
  | 'hnsw'
  | 'embedBatchSize'
  | 'persistDelayMs'
  | 'threads'
  | 'parallelMinChunks'
  | 'hnswBuild'
  | 'int8Graphs'
  | 'graphDimensions'
  | 'scanLimit'
> {
  return {
    hnsw: {
      m: config.HNSW_M,
      efConstruction: config.HNSW_EF_CONSTRUCTION,
      efSearch: config.HNSW_EF_SEARCH,
      rerank: config.HNSW_RERANK,
    },
    ...(config.HNSW_GRAPH_DIMENSIONS === 'auto' ? {} : { graphDimensions: config.HNSW_GRAPH_DIMENSIONS }),
    embedBatchSize: config.EMBEDDINGS_BATCH_SIZE,
    persistDelayMs: config.INDEX_PERSIST_DELAY_MS,
    threads: config.INDEX_THREADS,
    parallelMinChunks: config.INDEX_PARALLEL_MIN_CHUNKS,
    hnswBuild: config.HNSW_SIMD === 'off' ? 'portable' : 'auto',
    int8Graphs: config.HNSW_INT8 !== 'off',
    scanLimit: config.HNSW_SCAN_LIMIT,
  };
}

/** The service's tuning, read from the configuration (shared with the benchmark, which wires its own store). */
export function qaOptions(config: Config): QaOptions {
  return {
    corpusDir: config.CORPUS_DIR,
    maxQuestionLength: config.MAX_QUESTION_LENGTH,
    topK: config.RETRIEVAL_TOP_K,
    extractive: { maxQuotes: config.MAX_QUOTES, minScore: config.RELEVANCE_FLOOR, secondaryRatio: 0.8 },
    maxUploadBytes: config.MAX_UPLOAD_BYTES,
    fetchTimeoutMs: config.FETCH_TIMEOUT_MS,
    urlFetchAllowedNetworks: config.URL_FETCH_ALLOWED_NETWORKS,
    llmTimeoutMs: config.LLM_TIMEOUT_MS,
  };
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
  const embeddings = await createEmbeddings(config, {
    logger,
    ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
  });
  const store = await HnswVectorStore.open({
    dataDir: config.DATA_DIR,
    embeddings,
    logger,
    ...storeOptions(config),
  });
  const chatModel = createChatModel(config, {
    logger,
    ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
  });
  const corpusReader = new CorpusReaderPool();
  const service = createQaService({
    store,
    embeddings,
    logger,
    corpusReader,
    ...(chatModel ? { chatModel } : {}),
    options: qaOptions(config),
    ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
  });
  return {
    service,
    store,
    close: async () => {
      await store.close();
      await Promise.all([embeddings.close?.(), corpusReader.close()]);
    },
  };
}

/** How the bot process ends: the exit code and, for expected failures, one line for the operator. */
export interface BotExit {
  code: number;
  message?: string;
}

/**
 * `npm start`: parses the configuration, loads or builds the index before logging in, runs the bot, and on SIGINT or
 * SIGTERM stops taking new questions, finishes those in flight, logs out and resolves with exit code 0.
 */
export async function runBot(
  env: Record<string, string | undefined>,
  options: { signals?: NodeJS.Signals[]; logger?: Logger; fetch?: typeof fetch } = {},
): Promise<BotExit> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    return { code: 78, message: (err as Error).message };
  }
  if (!config.DISCORD_TOKEN)
    return { code: 78, message: 'DISCORD_TOKEN is not set: put your bot token in .env (see .env.example).' };
  const logger =
    options.logger ??
    createLogger({
      level: config.LOG_LEVEL,
      secrets: [config.DISCORD_TOKEN, config.LLM_API_KEY, config.EMBEDDINGS_API_KEY],
    });
  // Listen before starting: a signal during start-up then shuts down cleanly once the bot is up.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const s of options.signals ?? ['SIGINT', 'SIGTERM']) process.once(s, () => resolve(s));
  });
  // A rejection nothing awaited (discord.js can throw one from its gateway handlers) is logged, not fatal: one
  // failed event must not take every other user's answers down with the process.
  const onUnhandled = (reason: unknown) => logger.error({ err: reason }, 'unhandled rejection');
  process.on('unhandledRejection', onUnhandled);
  let app: App | undefined;
  try {
    app = await createApp(config, logger, options.fetch ? { fetch: options.fetch } : {});
    const refreshed = await app.service.refresh();
    if (refreshed.kind === 'corpus_empty') logger.warn(refreshed.message);
    for (const failure of refreshed.failures) logger.warn(failure, 'corpus file skipped');
    const bot = await startBot({
      config,
      service: app.service,
      logger,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const outcome = await Promise.race([
      stopSignal.then((signal) => ({ signal })),
      bot.disconnected.then((error) => ({ error })),
    ]);
    if ('error' in outcome) {
      logger.error({ code: outcome.error.code }, outcome.error.message);
      await bot.stop();
      return { code: 1, message: outcome.error.message };
    }
    logger.info({ signal: outcome.signal }, 'shutting down: finishing questions in flight');
    await bot.stop();
    logger.info('bot stopped');
    return { code: 0 };
  } catch (err) {
    if (err instanceof AppError) return { code: 1, message: err.message };
    throw err;
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await app?.close();
  }
}
