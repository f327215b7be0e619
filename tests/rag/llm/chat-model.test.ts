import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import {
  createChatModel,
  describeLlmError,
  resolveChatBaseURL,
  type ChatModel,
  type ChatModelDeps,
  type LlmErrorDescription,
} from '../../../src/rag/llm/chat-model.js';
import { createRecordingLogger } from '../../helpers/logger.js';
import { chatDeltas, startOpenAIDouble, type OpenAIDouble } from '../../helpers/openai-double.js';

const KEY = 'sk-test-secret-1234567890';
const PROMPT: [string, string][] = [
  ['system', 'Answer with quotes from the articles.'],
  ['human', 'Qui a gagné le match ?'],
];
const ANSWER = 'Le club local a gagné 2-1, « un match historique » selon le maire. Fin.';

/** The rejection of `promise`, classified. */
async function failure(promise: Promise<unknown>): Promise<LlmErrorDescription & { err: unknown }> {
  try {
    await promise;
  } catch (err) {
    return { err, ...describeLlmError(err) };
  }
  throw new Error('expected a rejection');
}

/** The contents a stream yields, and the error that ended it, if any. */
async function drain(model: ChatModel, options: { signal?: AbortSignal } = {}) {
  const contents: string[] = [];
  let error: unknown;
  try {
    for await (const chunk of await model.stream(PROMPT, options))
      contents.push(typeof chunk.content === 'string' ? chunk.content : JSON.stringify(chunk.content));
  } catch (err) {
    error = err;
  }
  return { contents, error };
}

describe('createChatModel', () => {
  let double: OpenAIDouble;
  let sleeps: number[];
  let recording: ReturnType<typeof createRecordingLogger>;

  beforeEach(async () => {
    double = await startOpenAIDouble();
    sleeps = [];
    recording = createRecordingLogger();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await double.close();
  });

  const build = (env: Record<string, string> = {}, deps: Partial<ChatModelDeps> = {}): ChatModel => {
    const config = loadConfig({
      LLM_BASE_URL: double.origin,
      LLM_MODEL: 'fake-chat',
      LLM_MAX_RETRIES: '2',
      ...env,
    });
    const model = createChatModel(config, {
      logger: recording.logger,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      ...deps,
    });
    if (!model) throw new Error('expected a chat model');
    return model;
  };
  const retryLogs = () => recording.records.filter((r) => r.msg === 'LLM request failed, retrying');

  it('returns undefined without LLM_MODEL', () => {
    const config = loadConfig({ LLM_BASE_URL: double.origin });
    expect(createChatModel(config, { logger: recording.logger })).toBeUndefined();
    expect(double.requests).toHaveLength(0);
  });

  it('invoke() returns the content and sends the model, temperature, messages and the Bearer key', async () => {
    double.chat((request) => ({ content: `echo: ${request.messages.at(-1)?.content}` }));
    const model = build({ LLM_API_KEY: KEY, LLM_TEMPERATURE: '0.3' });
    const reply = await model.invoke(PROMPT);
    expect(reply.content).toBe('echo: Qui a gagné le match ?');
    const [request] = double.chatRequests();
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.stream).toBe(false);
    expect(request?.body.model).toBe('fake-chat');
    expect(request?.body.temperature).toBe(0.3);
    expect(request?.messages).toEqual([
      { role: 'system', content: 'Answer with quotes from the articles.' },
      { role: 'user', content: 'Qui a gagné le match ?' },
    ]);
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.stringify(recording.records)).not.toContain(KEY);
  });

  it('sends no Authorization header without LLM_API_KEY, even with OPENAI_API_KEY in the environment', async () => {
    vi.stubEnv('OPENAI_API_KEY', 'sk-from-the-environment-123');
    expect((await build().invoke(PROMPT)).content).toBe('OK');
    expect(double.chatRequests()[0]?.headers.authorization).toBeUndefined();
  });

  it('accepts a base URL with /v1 and a trailing slash like a bare origin', async () => {
    await build({ LLM_BASE_URL: `${double.baseURL}/` }).invoke(PROMPT);
    await build({ LLM_BASE_URL: double.origin }).invoke(PROMPT);
    expect(double.chatRequests().map((r) => r.path)).toEqual([
      '/v1/chat/completions',
      '/v1/chat/completions',
    ]);
  });

  it('stream() yields the SSE deltas in order, which add up to the content, then the usage', async () => {
    double.scriptChat({ content: ANSWER, chunkSize: 7 });
    const model = build();
    const chunks = [];
    for await (const chunk of await model.stream(PROMPT)) chunks.push(chunk);
    const deltas = chunks.map((c) => c.content).filter((c) => c !== '');
    expect(deltas).toEqual(chatDeltas(ANSWER, 7));
    expect(deltas.join('')).toBe(ANSWER);
    expect(chunks.at(-1)?.usage_metadata?.output_tokens).toBe(ANSWER.split(/\s+/).length);
    const [request] = double.chatRequests();
    expect(request?.stream).toBe(true);
    expect(request?.body.stream_options).toEqual({ include_usage: true });
  });

  it('retries 500 twice with growing backoff, then succeeds: exactly 3 attempts', async () => {
    double.scriptChat({ status: 500 }, { status: 500 }, { content: ANSWER });
    expect((await build({ LLM_API_KEY: KEY }).invoke(PROMPT)).content).toBe(ANSWER);
    expect(double.chatRequests()).toHaveLength(3);
    expect(sleeps).toEqual([375, 750]);
    expect(retryLogs().map((r) => [r.attempt, r.code])).toEqual([
      [1, 'LLM_UNAVAILABLE'],
      [2, 'LLM_UNAVAILABLE'],
    ]);
    expect(JSON.stringify(recording.records)).not.toContain(KEY);
  });

  it('gives up after 1 + LLM_MAX_RETRIES attempts of 500 with LLM_UNAVAILABLE', async () => {
    double.scriptChat(...Array.from({ length: 5 }, () => ({ status: 500 })));
    const { code, message } = await failure(build().invoke(PROMPT));
    expect(code).toBe('LLM_UNAVAILABLE');
    expect(message).toBe('the language model endpoint failed (500) (after 3 attempts)');
    expect(double.chatRequests()).toHaveLength(3);
  });

  it('makes one attempt only with LLM_MAX_RETRIES=0', async () => {
    double.scriptChat({ status: 503 }, { content: ANSWER });
    expect((await failure(build({ LLM_MAX_RETRIES: '0' }).invoke(PROMPT))).code).toBe('LLM_UNAVAILABLE');
    expect(double.chatRequests()).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('waits as long as Retry-After says on 429, then succeeds', async () => {
    double.scriptChat({ status: 429, retryAfter: 1 }, { content: ANSWER });
    expect((await build().invoke(PROMPT)).content).toBe(ANSWER);
    expect(double.chatRequests()).toHaveLength(2);
    expect(sleeps).toEqual([1000]);
  });

  it('caps a long Retry-After, and reports LLM_RATE_LIMITED when 429 persists', async () => {
    double.scriptChat(...Array.from({ length: 3 }, () => ({ status: 429, retryAfter: 3600 })));
    const { code, message } = await failure(build().invoke(PROMPT));
    expect(code).toBe('LLM_RATE_LIMITED');
    expect(message).toBe('the language model is rate-limited (429, retry after 3600 s) (after 3 attempts)');
    expect(sleeps).toEqual([8000, 8000]);
  });

  it('fails at once with LLM_AUTH on 401, with the echoed key scrubbed from the error and the logs', async () => {
    double.scriptChat({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}` } } });
    const { err, code, message } = await failure(build({ LLM_API_KEY: KEY }).invoke(PROMPT));
    expect(code).toBe('LLM_AUTH');
    expect(message).toBe('the language model endpoint rejected the credentials (401); check LLM_API_KEY');
    expect((err as Error).message).not.toContain(KEY);
    expect(JSON.stringify(err)).not.toContain(KEY);
    expect(JSON.stringify(recording.records)).not.toContain(KEY);
    expect(double.chatRequests()).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it.each([
    [400, 'LLM_FAILED', 'the language model endpoint answered 400: scripted failure 400'],
    [403, 'LLM_AUTH', 'the language model endpoint refused access (403); check LLM_API_KEY and LLM_MODEL'],
    [
      404,
      'LLM_FAILED',
      'the language model endpoint answered 404 (check LLM_BASE_URL and LLM_MODEL): scripted failure 404',
    ],
  ])('does not retry %i (%s)', async (status, expectedCode, expectedMessage) => {
    double.scriptChat({ status }, { content: ANSWER });
    const { code, message } = await failure(build().invoke(PROMPT));
    expect([code, message]).toEqual([expectedCode, expectedMessage]);
    expect(double.chatRequests()).toHaveLength(1);
  });

  it('times out each attempt after LLM_TIMEOUT_MS and gives up with LLM_TIMEOUT', async () => {
    double.scriptChat({ content: ANSWER, delayMs: 5000 }, { hang: true }, { content: ANSWER });
    const { code, message } = await failure(
      build({ LLM_TIMEOUT_MS: '200', LLM_MAX_RETRIES: '1' }).invoke(PROMPT),
    );
    expect(code).toBe('LLM_TIMEOUT');
    expect(message).toBe('the language model did not answer in time (after 2 attempts)');
    expect(double.chatRequests()).toHaveLength(2);
  });

  it('recovers when a timed-out attempt succeeds on retry', async () => {
    double.scriptChat({ hang: true }, { content: ANSWER });
    expect((await build({ LLM_TIMEOUT_MS: '200' }).invoke(PROMPT)).content).toBe(ANSWER);
    expect(double.chatRequests()).toHaveLength(2);
  });

  it('fails a stream that stalls after it started with LLM_TIMEOUT, from the iterator, without retrying', async () => {
    double.scriptChat({ content: ANSWER, chunkDelayMs: 5000 }, { content: ANSWER });
    const { contents, error } = await drain(build({ LLM_TIMEOUT_MS: '200' }));
    expect(contents).toEqual(['']); // the role delta arrived, then nothing
    expect(describeLlmError(error)).toEqual({
      code: 'LLM_TIMEOUT',
      message: 'the language model did not answer in time: the stream stalled for 200 ms',
    });
    expect(double.chatRequests()).toHaveLength(1);
  });

  it("reports a caller's deadline that ends a stream as LLM_TIMEOUT", async () => {
    double.scriptChat({ hang: true });
    const { contents, error } = await drain(build(), { signal: AbortSignal.timeout(100) });
    expect(contents).toEqual([]);
    expect(describeLlmError(error).code).toBe('LLM_TIMEOUT');
    expect(double.chatRequests()).toHaveLength(1);
  });

  it("reports a caller's deadline that ends invoke() as an abort: LangChain drops the reason", async () => {
    double.scriptChat({ hang: true });
    const { code, message } = await failure(build().invoke(PROMPT, { signal: AbortSignal.timeout(100) }));
    expect([code, message]).toEqual([
      'LLM_FAILED',
      "the language model request was aborted (the caller's deadline or a cancellation)",
    ]);
    expect(double.chatRequests()).toHaveLength(1);
  });

  it('still obeys failNext() queued on the chat path before any chat reply', async () => {
    double.failNext('/v1/chat/completions', 1, 503);
    double.scriptChat({ content: ANSWER });
    expect((await build().invoke(PROMPT)).content).toBe(ANSWER);
    expect(double.chatRequests()).toHaveLength(2);
  });

  it('fails with LLM_BAD_OUTPUT on malformed JSON, without retrying', async () => {
    double.scriptChat({ garbage: '{"choices": [' }, { content: ANSWER });
    const { code, message } = await failure(build().invoke(PROMPT));
    expect([code, message]).toEqual(['LLM_BAD_OUTPUT', 'the language model returned a malformed response']);
    expect(double.chatRequests()).toHaveLength(1);
  });

  it('surfaces a malformed event mid-stream from the iterator, after the deltas before it', async () => {
    const good = {
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'fake-chat',
      choices: [{ index: 0, delta: { role: 'assistant', content: 'Le club' }, finish_reason: null }],
    };
    double.scriptChat({ garbage: `data: ${JSON.stringify(good)}\n\ndata: {"choices": [\n\n` });
    const { contents, error } = await drain(build());
    expect(contents).toEqual(['Le club']);
    expect(describeLlmError(error).code).toBe('LLM_BAD_OUTPUT');
    expect(double.chatRequests()).toHaveLength(1);
  });

  it('reports a closed port as LLM_UNAVAILABLE after 1 + LLM_MAX_RETRIES attempts', async () => {
    const closed = double.origin;
    await double.close();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const { code, message } = await failure(
      build({ LLM_BASE_URL: closed, LLM_MAX_RETRIES: '1' }, { fetch: counting }).invoke(PROMPT),
    );
    expect(code).toBe('LLM_UNAVAILABLE');
    expect(message).toBe('the language model endpoint is unreachable (ECONNREFUSED) (after 2 attempts)');
    expect(calls).toBe(2);
    expect(sleeps).toHaveLength(1);
    double = await startOpenAIDouble();
  });
});

describe('resolveChatBaseURL', () => {
  it('appends /v1 to a bare origin and keeps a path, as EMBEDDINGS_BASE_URL does', () => {
    expect(resolveChatBaseURL('http://localhost:11434')).toBe('http://localhost:11434/v1');
    expect(resolveChatBaseURL('http://localhost:11434/')).toBe('http://localhost:11434/v1');
    expect(resolveChatBaseURL('http://localhost:11434/v1/')).toBe('http://localhost:11434/v1');
    expect(resolveChatBaseURL('https://api.openai.com/v1/chat/completions')).toBe(
      'https://api.openai.com/v1',
    );
    expect(resolveChatBaseURL('https://example.com/v1beta/openai')).toBe('https://example.com/v1beta/openai');
  });
});

describe('describeLlmError', () => {
  it('classifies what is not an API error as LLM_FAILED, in one line', () => {
    expect(describeLlmError('boom')).toEqual({
      code: 'LLM_FAILED',
      message: 'the language model call failed: string: boom',
    });
    expect(describeLlmError(new Error('first\nsecond')).message).toBe(
      'the language model call failed: Error: first second',
    );
  });

  it('classifies a timeout signal as LLM_TIMEOUT', () => {
    expect(
      describeLlmError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).code,
    ).toBe('LLM_TIMEOUT');
  });

  it('redacts anything shaped like a key or a bearer token', () => {
    const { message } = describeLlmError(new Error(`denied for ${KEY} (Authorization: Bearer abc.def)`));
    expect(message).not.toContain(KEY);
    expect(message).not.toContain('abc.def');
  });
});
