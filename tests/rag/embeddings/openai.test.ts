import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  embeddingsEndpoint,
  OpenAICompatibleEmbeddings,
  type OpenAICompatibleEmbeddingsOptions,
} from '../../../src/rag/embeddings/openai.js';
import { createRecordingLogger } from '../../helpers/logger.js';
import {
  embeddingInputs,
  fakeEmbedding,
  startOpenAIDouble,
  type OpenAIDouble,
} from '../../helpers/openai-double.js';

const PATH = '/v1/embeddings';
const KEY = 'sk-test-secret-1234';

async function caught(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

describe('OpenAICompatibleEmbeddings', () => {
  let double: OpenAIDouble;
  let sleeps: number[];

  beforeEach(async () => {
    double = await startOpenAIDouble({ embeddingDimensions: 8 });
    sleeps = [];
  });
  afterEach(async () => {
    await double.close();
  });

  const client = (options: Partial<OpenAICompatibleEmbeddingsOptions> = {}) =>
    new OpenAICompatibleEmbeddings({
      baseURL: double.baseURL,
      model: 'fake-embedding',
      maxRetries: 3,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      ...options,
    });

  it('splits the texts into batches and keeps their order when the server answers out of order', async () => {
    double.embeddings.shuffle = true;
    const texts = Array.from({ length: 10 }, (_, i) => `texte numéro ${i}`);
    const vectors = await client({ batchSize: 4 }).embedDocuments(texts);
    expect(double.requestsTo(PATH).map((r) => embeddingInputs(r))).toEqual([
      texts.slice(0, 4),
      texts.slice(4, 8),
      texts.slice(8),
    ]);
    expect(vectors).toEqual(texts.map((t) => fakeEmbedding(t, 8)));
  });

  it('sends the model, float encoding and the configured dimensions', async () => {
    await client({ dimensions: 8 }).embedQuery('bonjour');
    await client().embedQuery('bonjour');
    const [withDims, withoutDims] = double.requestsTo(PATH);
    expect(withDims?.body).toEqual({
      model: 'fake-embedding',
      input: ['bonjour'],
      encoding_format: 'float',
      dimensions: 8,
    });
    expect(withoutDims?.body).not.toHaveProperty('dimensions');
  });

  it('sends a Bearer token when a key is set and no Authorization header otherwise', async () => {
    await client({ apiKey: KEY }).embedQuery('a');
    await client().embedQuery('b');
    const [keyed, anonymous] = double.requestsTo(PATH);
    expect(keyed?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(anonymous?.headers.authorization).toBeUndefined();
  });

  it('makes no request for an empty list', async () => {
    expect(await client().embedDocuments([])).toEqual([]);
    expect(double.requests).toHaveLength(0);
  });

  it('waits as long as Retry-After says on 429, then succeeds', async () => {
    double.failNext(PATH, 1, 429, { retryAfter: '2' });
    expect(await client().embedQuery('x')).toEqual(fakeEmbedding('x', 8));
    expect(double.requestsTo(PATH)).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
  });

  it('caps a long Retry-After at the maximum backoff', async () => {
    double.failNext(PATH, 1, 429, { retryAfter: '3600' });
    await client({ backoffMaxMs: 10_000 }).embedQuery('x');
    expect(sleeps).toEqual([10_000]);
  });

  it('retries 500 and 503 with growing backoff, then succeeds', async () => {
    double.failNext(PATH, 1, 500);
    double.failNext(PATH, 1, 503);
    const { logger, records } = createRecordingLogger();
    expect(await client({ backoffBaseMs: 100, logger }).embedQuery('x')).toHaveLength(8);
    expect(double.requestsTo(PATH)).toHaveLength(3);
    expect(sleeps).toEqual([75, 150]);
    expect(records.filter((r) => r.msg === 'embeddings request failed, retrying')).toHaveLength(2);
  });

  it('gives up after the maximum retries with EMBEDDINGS_FAILED, the status and a body excerpt', async () => {
    double.failNext(PATH, 10, 503, { message: 'model is loading' });
    const err = await caught(client({ maxRetries: 2 }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('503');
    expect(err.message).toContain('model is loading');
    expect(err.message).toContain('3 attempts');
    expect(double.requestsTo(PATH)).toHaveLength(3);
  });

  it('fails at once with EMBEDDINGS_AUTH on 401, without leaking the key', async () => {
    double.failNext(PATH, 1, 401, { message: `Incorrect API key provided: ${KEY}` });
    const err = await caught(client({ apiKey: KEY }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_AUTH');
    expect(err.message).toContain('the embeddings endpoint rejected the API key (401)');
    expect(err.message).not.toContain(KEY);
    expect(double.requestsTo(PATH)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('says a key is missing on 403 when none is set', async () => {
    double.failNext(PATH, 1, 403);
    const err = await caught(client().embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_AUTH');
    expect(err.message).toMatch(/requires an API key \(403\)/);
  });

  it('does not retry other client errors and redacts an echoed key', async () => {
    double.failNext(PATH, 1, 400, { message: `bad request for key ${KEY}` });
    const err = await caught(client({ apiKey: KEY }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('400');
    expect(err.message).not.toContain(KEY);
    expect(double.requestsTo(PATH)).toHaveLength(1);
  });

  it('rejects vectors of the wrong length with EMBEDDINGS_DIMENSIONS', async () => {
    const err = await caught(client({ dimensions: 12 }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_DIMENSIONS');
    expect(err.message).toContain('8 dimensions, expected 12');
  });

  it('learns the dimensions from the first response and holds the server to them', async () => {
    const embeddings = client();
    expect(() => embeddings.dimensions).toThrow(/not known yet/);
    await embeddings.embedQuery('a');
    expect(embeddings.dimensions).toBe(8);
    double.embeddings.dimensions = 6;
    expect((await caught(embeddings.embedQuery('b'))).code).toBe('EMBEDDINGS_DIMENSIONS');
  });

  it('create() probes once for the dimensions when none is configured', async () => {
    const embeddings = await OpenAICompatibleEmbeddings.create({
      baseURL: double.baseURL,
      model: 'fake-embedding',
    });
    expect(double.requestsTo(PATH)).toHaveLength(1);
    expect(embeddings.dimensions).toBe(8);
    expect(embeddings.id).toBe(`openai:fake-embedding@${new URL(double.origin).host}:8`);
    await OpenAICompatibleEmbeddings.create({
      baseURL: double.baseURL,
      model: 'fake-embedding',
      dimensions: 8,
    });
    expect(double.requestsTo(PATH)).toHaveLength(1);
  });

  it('fails with EMBEDDINGS_FAILED on malformed JSON', async () => {
    double.script(PATH, { text: '{"data": [' });
    const err = await caught(client().embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('malformed JSON');
  });

  it('fails with EMBEDDINGS_FAILED when the server returns fewer vectors than inputs', async () => {
    double.script(PATH, { json: { data: [{ index: 0, embedding: fakeEmbedding('a', 8) }] } });
    const err = await caught(client().embedDocuments(['a', 'b']));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('1 vectors for 2 inputs');
  });

  it('retries a request that times out, then reports the timeout', async () => {
    double.hangNext(PATH, 5);
    const err = await caught(client({ timeoutMs: 50, maxRetries: 1 }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('did not answer within 50 ms');
    expect(double.requestsTo(PATH)).toHaveLength(2);
  });

  it('recovers when a timed-out request succeeds on retry', async () => {
    double.hangNext(PATH, 1);
    expect(await client({ timeoutMs: 50 }).embedQuery('x')).toEqual(fakeEmbedding('x', 8));
    expect(double.requestsTo(PATH)).toHaveLength(2);
  });

  it('retries network errors', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls += 1;
      if (calls === 1) throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') });
      return fetch(input, init);
    };
    expect(await client({ fetch: flaky }).embedQuery('x')).toHaveLength(8);
    expect(calls).toBe(2);
    expect(sleeps).toHaveLength(1);
  });

  it('reports an unreachable server as EMBEDDINGS_FAILED after its retries', async () => {
    const closed = double.origin;
    await double.close();
    double = await startOpenAIDouble();
    const err = await caught(client({ baseURL: closed, maxRetries: 1 }).embedQuery('x'));
    expect(err.code).toBe('EMBEDDINGS_FAILED');
    expect(err.message).toContain('unreachable');
    expect(sleeps).toHaveLength(1);
  });
});

describe('embeddingsEndpoint', () => {
  it('accepts a base URL with or without /v1, and with or without /embeddings', () => {
    expect(embeddingsEndpoint('http://localhost:11434').href).toBe('http://localhost:11434/v1/embeddings');
    expect(embeddingsEndpoint('http://localhost:11434/').href).toBe('http://localhost:11434/v1/embeddings');
    expect(embeddingsEndpoint('http://localhost:11434/v1/').href).toBe(
      'http://localhost:11434/v1/embeddings',
    );
    expect(embeddingsEndpoint('https://api.openai.com/v1/embeddings').href).toBe(
      'https://api.openai.com/v1/embeddings',
    );
    expect(embeddingsEndpoint('https://example.com/v1beta/openai').href).toBe(
      'https://example.com/v1beta/openai/embeddings',
    );
  });
});
