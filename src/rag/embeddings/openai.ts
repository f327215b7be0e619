import { setTimeout as delay } from 'node:timers/promises';
import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { AppError, ErrorCode } from '../../errors.js';
import { createSilentLogger, type Logger } from '../../logger.js';
import type { VerbatimEmbeddings } from './types.js';

/** Options of {@link OpenAICompatibleEmbeddings}. The defaults are those of the configuration keys. */
export interface OpenAICompatibleEmbeddingsOptions extends Omit<
  EmbeddingsParams,
  'maxRetries' | 'onFailedAttempt'
> {
  /**
   * Base URL of the API. A bare origin (`http://localhost:11434`) gets `/v1` appended; a URL with a path
   * (`https://api.openai.com/v1`, `https://host/v1beta/openai`) is used as given. `/embeddings` is appended.
   */
  baseURL: string;
  model: string;
  /** Sent as `Authorization: Bearer`; no header when absent. Never logged nor put in an error. */
  apiKey?: string;
  /**
   * Expected vector length, also sent as the request's `dimensions` (models that support shortening honour it).
   * When absent, nothing is sent and the length of the first vector received becomes the expected one.
   */
  dimensions?: number;
  /** Texts per request (`EMBEDDINGS_BATCH_SIZE`, default 64). */
  batchSize?: number;
  /** Retries of one request on 429, 5xx, timeouts and network errors (`EMBEDDINGS_MAX_RETRIES`, default 4). */
  maxRetries?: number;
  /** Timeout of one request attempt in milliseconds (`EMBEDDINGS_TIMEOUT_MS`, default 30 000). */
  timeoutMs?: number;
  /** First backoff delay; doubles on each retry, with jitter (default 500 ms). */
  backoffBaseMs?: number;
  /** Longest backoff delay, also the cap on a server's `Retry-After` (default 30 000 ms). */
  backoffMaxMs?: number;
  fetch?: typeof fetch;
  /** Waits between retries; tests inject one that records the delays and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1). */
  random?: () => number;
  logger?: Logger;
}

interface EmbeddingItem {
  index?: unknown;
  embedding?: unknown;
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);
const BODY_EXCERPT_LENGTH = 200;

class RetryableError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Resolves the embeddings endpoint from a base URL: `http://localhost:11434` and `http://localhost:11434/v1` both
 * give `http://localhost:11434/v1/embeddings`; a URL that already ends in `/embeddings` is kept.
 */
export function embeddingsEndpoint(baseURL: string): URL {
  const url = new URL(baseURL);
  let path = url.pathname.replace(/\/+$/, '');
  if (path === '') path = '/v1';
  if (!path.endsWith('/embeddings')) path += '/embeddings';
  url.pathname = path;
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * LangChain embeddings for any OpenAI-compatible `POST /embeddings` endpoint (OpenAI, Ollama, vLLM, LM Studio,
 * LiteLLM, ...). Batches the texts, retries 429, 5xx, timeouts and network errors with exponential backoff and
 * jitter (honouring `Retry-After`, capped), and checks every vector's length. Failures are {@link AppError}s:
 * `EMBEDDINGS_AUTH` (401/403, not retried), `EMBEDDINGS_DIMENSIONS`, `EMBEDDINGS_FAILED`.
 *
 * The vector length may be unknown until the first response: use {@link OpenAICompatibleEmbeddings.create}, which
 * probes once when no `dimensions` is given, so that {@link dimensions} and {@link id} are readable afterwards.
 * LangChain's own `AsyncCaller` retries are disabled (its waits are wall-clock and its errors unclassified); the
 * caller only bounds concurrency (`maxConcurrency`, default 1).
 */
export class OpenAICompatibleEmbeddings extends Embeddings implements VerbatimEmbeddings {
  readonly model: string;
  private readonly endpoint: URL;
  private readonly apiKey: string | undefined;
  private readonly requestedDimensions: number | undefined;
  private knownDimensions: number | undefined;
  private readonly batchSize: number;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly logger: Logger;

  constructor(options: OpenAICompatibleEmbeddingsOptions) {
    super({ maxConcurrency: options.maxConcurrency ?? 1, maxRetries: 0, onFailedAttempt: rethrow });
    this.model = options.model;
    this.endpoint = embeddingsEndpoint(options.baseURL);
    this.apiKey = options.apiKey || undefined;
    this.requestedDimensions = options.dimensions;
    this.knownDimensions = options.dimensions;
    this.batchSize = Math.max(1, options.batchSize ?? 64);
    this.maxRetries = Math.max(0, options.maxRetries ?? 4);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
    this.random = options.random ?? Math.random;
    this.logger = (options.logger ?? createSilentLogger()).child({
      component: 'embeddings',
      model: this.model,
    });
  }

  /**
   * Builds the client and, when no `dimensions` is configured, embeds one short probe text to learn the vector
   * length. Fails fast with the same errors as an embedding call (a wrong key surfaces at start-up).
   */
  static async create(options: OpenAICompatibleEmbeddingsOptions): Promise<OpenAICompatibleEmbeddings> {
    const embeddings = new OpenAICompatibleEmbeddings(options);
    if (embeddings.knownDimensions === undefined) await embeddings.embedQuery('dimension probe');
    return embeddings;
  }

  /** Vector length. Throws until known: pass `dimensions`, or build with {@link create}. */
  get dimensions(): number {
    if (this.knownDimensions === undefined)
      throw new AppError(
        ErrorCode.EMBEDDINGS_DIMENSIONS,
        'the embeddings dimensions are not known yet: set EMBEDDINGS_DIMENSIONS or build with OpenAICompatibleEmbeddings.create()',
      );
    return this.knownDimensions;
  }

  /** `openai:<model>@<host>:<dimensions>`; the host is part of it because a model name means nothing elsewhere. */
  get id(): string {
    return `openai:${this.model}@${this.endpoint.host}:${this.dimensions}`;
  }

  override async embedDocuments(documents: string[]): Promise<number[][]> {
    const batches: string[][] = [];
    for (let i = 0; i < documents.length; i += this.batchSize)
      batches.push(documents.slice(i, i + this.batchSize));
    const results = await Promise.all(batches.map((batch) => this.caller.call(() => this.embedBatch(batch))));
    return results.flat();
  }

  override async embedQuery(document: string): Promise<number[]> {
    const [vector] = await this.caller.call(() => this.embedBatch([document]));
    if (!vector)
      throw new AppError(ErrorCode.EMBEDDINGS_FAILED, 'the embeddings endpoint returned no vector');
    return vector;
  }

  private async embedBatch(texts: string[]): Promise<number[][]> {
    const body = JSON.stringify({
      model: this.model,
      input: texts.map((t) => (t.trim() === '' ? ' ' : t)),
      encoding_format: 'float',
      ...(this.requestedDimensions !== undefined ? { dimensions: this.requestedDimensions } : {}),
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const payload = await this.post(body);
        return this.parse(payload, texts.length);
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        if (attempt >= this.maxRetries)
          throw new AppError(
            ErrorCode.EMBEDDINGS_FAILED,
            `${err.message} (gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'})`,
            { cause: err },
          );
        const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** attempt);
        const jittered = Math.round(backoff / 2 + (this.random() * backoff) / 2);
        const waitMs =
          err.retryAfterMs !== undefined
            ? Math.min(this.backoffMaxMs, Math.max(err.retryAfterMs, 0))
            : jittered;
        this.logger.warn(
          { status: err.status, attempt: attempt + 1, waitMs, reason: err.message },
          'embeddings request failed, retrying',
        );
        await this.sleep(waitMs);
      }
    }
  }

  private async post(body: string): Promise<unknown> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(this.endpoint, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new RetryableError(`the embeddings endpoint did not answer within ${this.timeoutMs} ms`);
      throw new RetryableError(
        `the embeddings endpoint is unreachable (${this.endpoint.origin}): ${this.describe(err)}`,
      );
    }
    const status = response.status;
    if (status === 401 || status === 403)
      throw new AppError(
        ErrorCode.EMBEDDINGS_AUTH,
        this.apiKey
          ? `the embeddings endpoint rejected the API key (${status}); check EMBEDDINGS_API_KEY`
          : `the embeddings endpoint requires an API key (${status}); set EMBEDDINGS_API_KEY`,
      );
    if (!response.ok) {
      const message = `the embeddings endpoint answered ${status}: ${this.excerpt(text)}`;
      if (RETRYABLE_STATUS.has(status))
        throw new RetryableError(message, status, parseRetryAfter(response.headers.get('retry-after')));
      const hint = status === 404 ? ' (check EMBEDDINGS_BASE_URL and EMBEDDINGS_MODEL)' : '';
      throw new AppError(ErrorCode.EMBEDDINGS_FAILED, message + hint);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new AppError(
        ErrorCode.EMBEDDINGS_FAILED,
        `the embeddings endpoint returned malformed JSON: ${this.excerpt(text)}`,
      );
    }
  }

  private parse(payload: unknown, expected: number): number[][] {
    const data = (payload as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length !== expected)
      throw new AppError(
        ErrorCode.EMBEDDINGS_FAILED,
        `the embeddings endpoint returned ${Array.isArray(data) ? data.length : 'no'} vectors for ${expected} inputs`,
      );
    const items = (data as EmbeddingItem[]).map((item, position) => ({
      index: typeof item?.index === 'number' ? item.index : position,
      embedding: item?.embedding,
    }));
    items.sort((a, b) => a.index - b.index);
    return items.map(({ embedding }, i) => {
      if (!Array.isArray(embedding) || !embedding.every((v) => typeof v === 'number' && Number.isFinite(v)))
        throw new AppError(
          ErrorCode.EMBEDDINGS_FAILED,
          `the embeddings endpoint returned a malformed vector at index ${i}`,
        );
      this.checkDimensions(embedding.length);
      return embedding as number[];
    });
  }

  private checkDimensions(length: number): void {
    if (this.knownDimensions === undefined) {
      this.knownDimensions = length;
      return;
    }
    if (length !== this.knownDimensions) {
      const origin = this.requestedDimensions !== undefined ? 'EMBEDDINGS_DIMENSIONS' : 'the first response';
      throw new AppError(
        ErrorCode.EMBEDDINGS_DIMENSIONS,
        `the embeddings endpoint returned a vector of ${length} dimensions, expected ${this.knownDimensions} (from ${origin})`,
      );
    }
  }

  private excerpt(text: string): string {
    let clean = text.replace(/\s+/g, ' ').trim();
    clean = this.redact(clean);
    if (clean === '') return '(empty body)';
    return clean.length > BODY_EXCERPT_LENGTH ? `${clean.slice(0, BODY_EXCERPT_LENGTH)}…` : clean;
  }

  private describe(err: unknown): string {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const message = err instanceof Error ? `${err.message}${cause}` : String(err);
    return this.redact(message);
  }

  private redact(text: string): string {
    return this.apiKey && this.apiKey.length >= 4 ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

function rethrow(error: unknown): never {
  throw error;
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
