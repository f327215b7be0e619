import { setTimeout as delay } from 'node:timers/promises';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AsyncCaller, type AsyncCallerCallOptions } from '@langchain/core/utils/async_caller';
import { ChatOpenAICompletions, OpenAIClient } from '@langchain/openai';
import type { Config } from '../../config.js';
import { AppError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';

/** The chat model callers program against: LangChain's interface, whatever the provider. */
export type ChatModel = BaseChatModel;

/** Collaborators of {@link createChatModel}. */
export interface ChatModelDeps {
  logger: Logger;
  /** HTTP client of the OpenAI-compatible endpoint; the global `fetch` by default. */
  fetch?: typeof fetch;
  /** Waits between attempts; tests inject one that records the delays and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** Source of backoff jitter in [0, 1). */
  random?: () => number;
}

/** Stable codes of a failed LLM call, as {@link describeLlmError} classifies it. */
export type LlmErrorCode =
  'LLM_TIMEOUT' | 'LLM_RATE_LIMITED' | 'LLM_UNAVAILABLE' | 'LLM_AUTH' | 'LLM_BAD_OUTPUT' | 'LLM_FAILED';

/** A failed LLM call in one short line, without secrets: fit for the logs and for a note to the user. */
export interface LlmErrorDescription {
  code: LlmErrorCode;
  message: string;
}

/** First backoff delay; doubles on each retry, with jitter. */
const BACKOFF_BASE_MS = 500;
/** Longest wait between attempts, also the cap on a server's `Retry-After`: the user is waiting for an answer. */
const BACKOFF_MAX_MS = 8_000;
/** Sent as the API key to servers that need none (the SDK refuses to build a client without one); never sent. */
const NO_API_KEY = 'no-api-key';
const EXCERPT_LENGTH = 160;

/**
 * The base URL the OpenAI SDK appends `/chat/completions` to, resolved like `EMBEDDINGS_BASE_URL`: a bare origin
 * (`http://localhost:11434`) gets `/v1`; a URL with a path (`https://api.openai.com/v1`,
 * `https://host/v1beta/openai`) is used as given; a pasted full endpoint (`.../v1/chat/completions`) is trimmed.
 */
export function resolveChatBaseURL(baseURL: string): string {
  const url = new URL(baseURL);
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/chat/completions')) path = path.slice(0, -'/chat/completions'.length);
  if (path === '') path = '/v1';
  url.pathname = path;
  url.search = '';
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/**
 * Builds the chat model the configuration asks for: the only place that picks the LLM provider. Returns
 * `undefined` when `LLM_MODEL` is unset (the bot then answers extractively).
 *
 * The model is LangChain's `ChatOpenAICompletions`, the Chat Completions half of `ChatOpenAI`, talking to the
 * OpenAI-compatible endpoint at `LLM_BASE_URL` (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, LiteLLM, ...).
 * `ChatOpenAI` itself switches to the Responses API (`/v1/responses`) for some model names and call options, which
 * most compatible servers do not implement; this one always posts to `/chat/completions`.
 *
 * - `LLM_TIMEOUT_MS` bounds each attempt (the SDK's timeout: until the whole JSON body, or until the headers of a
 *   stream), and, for a stream, every wait for the next bytes: a stream that stalls fails with a `TimeoutError`.
 * - `LLM_MAX_RETRIES` retries of 429, 408/409/425, 5xx, timeouts and connection errors, with exponential backoff
 *   and jitter honouring `Retry-After` (capped at 8 s); never 400/401/403/404 nor malformed output. Exactly
 *   `1 + LLM_MAX_RETRIES` requests at most: the SDK's own retries stay off (`ChatOpenAI` forces them to 0) and
 *   LangChain's `AsyncCaller` is replaced by one with this policy, whose waits go through `deps.sleep`. Only the
 *   request is retried: once a stream has started, a failure surfaces from the iterator and is not retried.
 * - `LLM_API_KEY` is sent as `Authorization: Bearer`; without it no Authorization header is sent, and
 *   `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID` from the environment are ignored.
 *   The key is scrubbed from every response body before the SDK reads it (an error body, an error event in the
 *   middle of a stream, or model output that echoes it), then from errors, and is never logged.
 *
 * Failures are the SDK's and LangChain's errors; classify them with {@link describeLlmError}.
 */
export function createChatModel(config: Config, deps: ChatModelDeps): ChatModel | undefined {
  const model = config.LLM_MODEL;
  if (!model) return undefined;
  if (!config.LLM_BASE_URL)
    throw new AppError(ErrorCode.CONFIG_INVALID, 'LLM_BASE_URL is required when LLM_MODEL is set');
  const baseURL = resolveChatBaseURL(config.LLM_BASE_URL);
  const apiKey = config.LLM_API_KEY || undefined;
  const log = deps.logger.child({ component: 'llm', model });
  const sdkLog = log.child({ source: 'openai-sdk' });

  const chatModel = new ChatOpenAICompletions({
    model,
    apiKey: apiKey ?? NO_API_KEY,
    temperature: config.LLM_TEMPERATURE,
    timeout: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    configuration: {
      baseURL,
      fetch: createLlmFetch(deps.fetch ?? globalThis.fetch, {
        apiKey,
        idleTimeoutMs: config.LLM_TIMEOUT_MS,
      }),
      organization: null,
      project: null,
      logLevel: 'warn',
      logger: {
        error: (message: string) => sdkLog.error(redact(String(message), apiKey)),
        warn: (message: string) => sdkLog.warn(redact(String(message), apiKey)),
        info: () => undefined,
        debug: () => undefined,
      },
    },
  });
  chatModel.caller = new BoundedRetryCaller({
    maxRetries: config.LLM_MAX_RETRIES,
    sleep: deps.sleep ?? ((ms) => delay(ms)),
    random: deps.random ?? Math.random,
    apiKey,
    logger: log,
  });
  log.info(
    { host: new URL(baseURL).host, timeoutMs: config.LLM_TIMEOUT_MS, maxRetries: config.LLM_MAX_RETRIES },
    'using OpenAI-compatible chat model',
  );
  return chatModel;
}

/**
 * Classifies what the chat model throws (from `invoke()`, or from a `stream()` iterator mid-stream) into a stable
 * code and a one-line message without secrets: `LLM_TIMEOUT` (attempt timeout, stalled stream, or a timeout
 * signal when its reason survives: from `stream()` it does, from `invoke()` LangChain drops it and the abort is
 * `LLM_FAILED`), `LLM_RATE_LIMITED` (429), `LLM_UNAVAILABLE` (5xx, 408/409/425, connection refused or reset),
 * `LLM_AUTH` (401/403), `LLM_BAD_OUTPUT` (malformed JSON or server-sent events), `LLM_FAILED` (anything else:
 * other 4xx, cancellation, unexpected errors). When the request was retried the message says how many attempts.
 */
export function describeLlmError(err: unknown): LlmErrorDescription {
  const attempts = attemptsOf(err);
  const after = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  const status = statusOf(err);
  if (isTimeout(err)) {
    const stalled = err instanceof StreamStalledError ? `: ${err.message}` : '';
    return { code: 'LLM_TIMEOUT', message: `the language model did not answer in time${stalled}${after}` };
  }
  if (status === 401 || status === 403)
    return {
      code: 'LLM_AUTH',
      message:
        status === 401
          ? 'the language model endpoint rejected the credentials (401); check LLM_API_KEY'
          : 'the language model endpoint refused access (403); check LLM_API_KEY and LLM_MODEL',
    };
  if (status === 429) {
    const retryAfter = retryAfterMs(err);
    const hint = retryAfter !== undefined ? `, retry after ${Math.ceil(retryAfter / 1000)} s` : '';
    return { code: 'LLM_RATE_LIMITED', message: `the language model is rate-limited (429${hint})${after}` };
  }
  if (status !== undefined && isUnavailableStatus(status))
    return { code: 'LLM_UNAVAILABLE', message: `the language model endpoint failed (${status})${after}` };
  if (isConnectionError(err)) {
    const cause = networkCode(err);
    return {
      code: 'LLM_UNAVAILABLE',
      message: `the language model endpoint is unreachable${cause ? ` (${cause})` : ''}${after}`,
    };
  }
  if (err instanceof SyntaxError)
    return { code: 'LLM_BAD_OUTPUT', message: `the language model returned a malformed response${after}` };
  if (status !== undefined) {
    const hint = status === 404 ? ' (check LLM_BASE_URL and LLM_MODEL)' : '';
    return {
      code: 'LLM_FAILED',
      message: `the language model endpoint answered ${status}${hint}: ${excerpt(serverMessage(err))}`,
    };
  }
  if (isAbort(err))
    return {
      code: 'LLM_FAILED',
      message: "the language model request was aborted (the caller's deadline or a cancellation)",
    };
  if (err instanceof Error && err.constructor.name === 'APIError')
    return {
      code: 'LLM_FAILED',
      message: `the language model reported an error: ${excerpt(serverMessage(err))}`,
    };
  const name = err instanceof Error ? err.name : typeof err;
  return {
    code: 'LLM_FAILED',
    message: `the language model call failed: ${name}: ${excerpt(messageOf(err))}${after}`,
  };
}

/** Thrown into a stream whose server sends nothing for longer than the timeout. */
class StreamStalledError extends Error {
  constructor(ms: number) {
    super(`the stream stalled for ${ms} ms`);
    // Not 'AbortError': the SDK ends a stream silently on an abort, which would pass a truncated answer as whole.
    this.name = 'TimeoutError';
  }
}

/**
 * The HTTP client of the SDK: drops the placeholder Authorization header when no key is configured, replaces the
 * key wherever a response body repeats it (providers echo it in error messages, JSON or mid-stream), and fails a
 * streamed body that stays silent for `idleTimeoutMs` (the SDK's timeout ends when a stream's headers arrive).
 */
function createLlmFetch(
  base: typeof fetch,
  options: { apiKey: string | undefined; idleTimeoutMs: number },
): typeof fetch {
  return async (input, init) => {
    let request = init;
    if (options.apiKey === undefined) {
      const headers = new Headers(init?.headers);
      headers.delete('authorization');
      request = { ...init, headers };
    }
    const response = await base(input, request);
    const streaming = (response.headers.get('content-type') ?? '').includes('text/event-stream');
    const redacting = options.apiKey !== undefined && options.apiKey.length >= 4;
    if (!response.body || (!streaming && !redacting)) return response;
    let body: ReadableStream<Uint8Array> = response.body;
    if (redacting) body = body.pipeThrough(redactingStream(options.apiKey!));
    if (streaming) body = withIdleTimeout(body, options.idleTimeoutMs);
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(body, { status: response.status, statusText: response.statusText, headers });
  };
}

/**
 * Replaces `secret` in a UTF-8 byte stream, also across chunk boundaries: only the end of a chunk that could begin
 * the secret is held back until the next chunk, so a stream is not delayed otherwise.
 */
function redactingStream(secret: string): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = '';
  const heldBack = (text: string) => {
    for (let n = Math.min(secret.length - 1, text.length); n > 0; n--)
      if (secret.startsWith(text.slice(-n))) return n;
    return 0;
  };
  return new TransformStream({
    transform(chunk, controller) {
      pending = (pending + decoder.decode(chunk, { stream: true })).split(secret).join('[redacted]');
      const keep = heldBack(pending);
      const out = pending.slice(0, pending.length - keep);
      pending = pending.slice(pending.length - keep);
      if (out !== '') controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      const rest = (pending + decoder.decode()).split(secret).join('[redacted]');
      if (rest !== '') controller.enqueue(encoder.encode(rest));
    },
  });
}

function withIdleTimeout(body: ReadableStream<Uint8Array>, ms: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StreamStalledError(ms)), ms);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        reader.cancel(err).catch(() => undefined);
        controller.error(err);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

interface RetryPolicy {
  maxRetries: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  apiKey: string | undefined;
  logger: Logger;
}

/**
 * LangChain's `AsyncCaller` slot with our policy: bounded attempts, retryable failures only, backoff through an
 * injectable `sleep`. `ChatOpenAICompletions` sends every request (`invoke`, and the opening of a `stream`) through
 * `caller.callWithOptions`; the stock caller's waits (1-2 s, then 2-4 s, ...) cannot be shortened and it does not
 * retry a 429 without `Retry-After`.
 */
class BoundedRetryCaller extends AsyncCaller {
  constructor(private readonly policy: RetryPolicy) {
    super({ maxRetries: policy.maxRetries });
  }

  override call<A extends any[], T extends (...args: A) => Promise<any>>(
    callable: T,
    ...args: Parameters<T>
  ): Promise<Awaited<ReturnType<T>>> {
    return this.callWithOptions({}, callable, ...args);
  }

  override async callWithOptions<A extends any[], T extends (...args: A) => Promise<any>>(
    options: AsyncCallerCallOptions,
    callable: T,
    ...args: Parameters<T>
  ): Promise<Awaited<ReturnType<T>>> {
    const maxRetries = Math.max(0, options.maxRetries ?? this.policy.maxRetries);
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      try {
        return (await callable(...(args as A))) as Awaited<ReturnType<T>>;
      } catch (err) {
        scrub(err, this.policy.apiKey);
        const waitMs =
          attempt <= maxRetries && isRetryable(err) && !options.signal?.aborted
            ? this.waitBefore(err, attempt)
            : undefined;
        if (waitMs === undefined) {
          if (typeof err === 'object' && err !== null) attempts.set(err, attempt);
          throw err;
        }
        const { code, message } = describeLlmError(err);
        this.policy.logger.warn(
          { attempt, maxAttempts: maxRetries + 1, waitMs, code, reason: message },
          'LLM request failed, retrying',
        );
        await this.policy.sleep(waitMs);
      }
    }
  }

  private waitBefore(err: unknown, attempt: number): number {
    const retryAfter = retryAfterMs(err);
    if (retryAfter !== undefined) return Math.min(BACKOFF_MAX_MS, retryAfter);
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    return Math.round(backoff / 2 + (this.policy.random() * backoff) / 2);
  }
}

const attempts = new WeakMap<object, number>();

function attemptsOf(err: unknown): number {
  return typeof err === 'object' && err !== null ? (attempts.get(err) ?? 1) : 1;
}

function isRetryable(err: unknown): boolean {
  if (isAbort(err)) return false;
  const status = statusOf(err);
  if (status !== undefined) return (status === 429 && !isQuotaExhausted(err)) || isUnavailableStatus(status);
  return isTimeout(err) || isConnectionError(err);
}

const isUnavailableStatus = (status: number) =>
  status === 408 || status === 409 || status === 425 || status >= 500;

function isQuotaExhausted(err: unknown): boolean {
  const body = (err as { error?: { code?: unknown; type?: unknown } } | null)?.error;
  return body?.code === 'insufficient_quota' || body?.type === 'insufficient_quota';
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function nameOf(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : '';
}

function isAbort(err: unknown): boolean {
  const name = nameOf(err);
  return (
    name === 'AbortError' ||
    name === 'ModelAbortError' ||
    err instanceof OpenAIClient.APIUserAbortError ||
    (err instanceof Error && err.constructor.name === 'APIUserAbortError')
  );
}

/** An attempt timeout (the SDK's, wrapped by LangChain), a stalled stream, or an abort caused by a timeout signal. */
function isTimeout(err: unknown): boolean {
  if (nameOf(err) === 'TimeoutError') return true;
  if (err instanceof OpenAIClient.APIConnectionTimeoutError) return true;
  if (err instanceof Error && err.constructor.name === 'APIConnectionTimeoutError') return true;
  return isAbort(err) && nameOf((err as { cause?: unknown }).cause) === 'TimeoutError';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function isConnectionError(err: unknown): boolean {
  if (err instanceof OpenAIClient.APIConnectionError) return true;
  if (err instanceof Error && err.constructor.name === 'APIConnectionError') return true;
  if (err instanceof TypeError && /fetch failed|terminated|network/i.test(err.message)) return true;
  return networkCode(err) !== undefined;
}

/** `ECONNREFUSED` and the like, from the error or its causes. */
function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** `retry-after-ms` or `Retry-After` (seconds or an HTTP date) of an API error, in milliseconds. */
function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers;
  if (!(headers instanceof Headers)) return undefined;
  const ms = Number(headers.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : String(err);
}

/** The server's own error message when the body had one, else the error's message without the status prefix. */
function serverMessage(err: unknown): string {
  const body = (err as { error?: unknown } | null)?.error;
  const fromBody = (body as { message?: unknown } | null)?.message;
  if (typeof fromBody === 'string') return fromBody;
  return messageOf(err).replace(/^\d{3}\s+/, '');
}

function excerpt(text: string): string {
  const clean = redact(text.replace(/\n\nTroubleshooting URL:[\s\S]*$/, ''), undefined)
    .replace(/\s+/g, ' ')
    .trim();
  if (clean === '') return '(no details)';
  return clean.length > EXCERPT_LENGTH ? `${clean.slice(0, EXCERPT_LENGTH)}…` : clean;
}

/** Removes the configured key, and anything shaped like a bearer token or an OpenAI-style key. */
function redact(text: string, apiKey: string | undefined): string {
  let out = apiKey && apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;
  out = out.replace(/\bBearer\s+[^\s"',]+/gi, 'Bearer [redacted]');
  out = out.replace(/\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{6,}/g, '[redacted]');
  return out;
}

/** Takes the key out of an error's message and its server body before the error leaves the model. */
function scrub(err: unknown, apiKey: string | undefined): void {
  if (!apiKey || apiKey.length < 4 || typeof err !== 'object' || err === null) return;
  const target = err as { message?: unknown; error?: { message?: unknown } | null };
  try {
    if (typeof target.message === 'string' && target.message.includes(apiKey))
      target.message = redact(target.message, apiKey);
    const body = target.error;
    if (body && typeof body === 'object' && typeof body.message === 'string' && body.message.includes(apiKey))
      body.message = redact(body.message, apiKey);
  } catch {
    // A frozen error keeps its message; describeLlmError still redacts key-shaped text.
  }
}
