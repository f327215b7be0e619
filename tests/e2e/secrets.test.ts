import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createApp, runBot } from '../../src/main.js';
import { IDENTIFY_AT_ONCE, startDiscordDouble, type DiscordDouble } from '../helpers/discord-double.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { createRecordingLogger } from '../helpers/logger.js';
import { startOpenAIDouble, type OpenAIDouble } from '../helpers/openai-double.js';
import { isFinalEdit, option, SEED, startHarness, type Harness } from './bot-harness.js';

/**
 * The Discord token and the API keys of the language model and of the embeddings never appear in what the bot
 * writes: log lines, error messages (with their stacks and causes), the output of `npm start`, and the messages
 * it sends to Discord users. Each scenario runs with recognisable fake secrets, makes something fail around them,
 * captures everything, and searches it for each secret and for a distinctive part of it. Interaction tokens, which
 * let anyone post as the bot for 15 minutes, are searched for in the logs too.
 */

/** Shaped like a real bot token: base64 of the application id, a timestamp part, an HMAC part. */
const DISCORD_TOKEN = 'MTMwMDAwMDAwMDAwMDAwMDAwMQ.GsEcRt.secret-token-zzz-k9Qw2Lm8Xv4Tn7Rb1Hc5';
const LLM_API_KEY = 'sk-test-secret-key-yyy';
/** A provider key the `sk-` pattern does not recognise (Groq-style): only scrubbing by value hides it. */
const OTHER_LLM_API_KEY = 'gsk_test_secret_key_www_5Tq';
/** Not `sk-` shaped, so only scrubbing by value (not by pattern) can hide it. */
const EMBEDDINGS_API_KEY = 'emb-test-secret-key-xxx';

/**
 * What must not be found. The token's first part is the bot's public user id (discord.js itself prints it in a
 * censored token), so the token is searched for whole and by its secret parts.
 */
const NEEDLES = [
  DISCORD_TOKEN,
  'GsEcRt.secret-token-zzz',
  'secret-token-zzz',
  'k9Qw2Lm8Xv4Tn7Rb1Hc5',
  LLM_API_KEY,
  'secret-key-yyy',
  OTHER_LLM_API_KEY,
  'secret_key_www',
  EMBEDDINGS_API_KEY,
  'secret-key-xxx',
];

/** Everything a scenario produced that a person could read. */
interface Captured {
  logs: readonly string[];
  errors?: readonly unknown[];
  output?: readonly string[];
  /** Bodies of the requests the bot sent to Discord: the messages users see. */
  discord?: DiscordDouble;
}

/** An error as fully as it can be printed: message, stack, own properties and causes. */
const printed = (err: unknown) => `${String(err)}\n${inspect(err, { depth: 8, showHidden: false })}`;

/** The needles found in what was captured, as `where: needle`. */
function leaks(captured: Captured, extraNeedles: readonly string[] = []): string[] {
  const places: [string, string][] = [
    ...captured.logs.map((l, i): [string, string] => [`log line ${i + 1}`, l]),
    ...(captured.errors ?? []).map((e, i): [string, string] => [`error ${i + 1}`, printed(e)]),
    ...(captured.output ?? []).map((o, i): [string, string] => [`output ${i + 1}`, o]),
    ...(captured.discord?.requests ?? []).map((r): [string, string] => [
      `${r.method} ${r.path.replace(/[A-Za-z0-9_-]{40,}/g, '<token>')} body`,
      JSON.stringify(r.body ?? null),
    ]),
  ];
  return places.flatMap(([where, text]) =>
    [...NEEDLES, ...extraNeedles].filter((n) => text.includes(n)).map((n) => `${where}: ${n}`),
  );
}

function expectNoLeaks(captured: Captured, extraNeedles: readonly string[] = []): void {
  expect(captured.logs.length).toBeGreaterThan(0);
  expect(leaks(captured, extraNeedles)).toEqual([]);
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function corpusDir(): Promise<{ root: string; corpus: string }> {
  const dir = await temporaryDirectory('verbatim-secrets-');
  cleanups.push(dir.cleanup);
  await mkdir(join(dir.path, 'corpus'));
  await copyFile(SEED, join(dir.path, 'corpus', 'seed.md'));
  return { root: dir.path, corpus: join(dir.path, 'corpus') };
}

async function openai(): Promise<OpenAIDouble> {
  const double = await startOpenAIDouble();
  cleanups.push(() => double.close());
  return double;
}

async function harness(env: Record<string, string> = {}) {
  const recording = createRecordingLogger();
  const h: Harness = await startHarness({ LLM_API_KEY, EMBEDDINGS_API_KEY, ...env }, undefined, {
    double: { token: DISCORD_TOKEN },
    logger: recording.logger,
    client: { ws: IDENTIFY_AT_ONCE },
  });
  cleanups.push(() => h.stop());
  return { h, double: h.double, recording };
}

/** Sends `/ask` and waits for the final edit of its reply. */
async function ask(double: DiscordDouble, question: string) {
  const interaction = double.sendCommand({
    name: 'ask',
    locale: 'fr',
    user: double.users.member,
    options: [option('question', question)],
  });
  const edit = await double.waitForResponse(
    (r) => isFinalEdit(interaction.token)(r) && r.response?.status === 200,
  );
  return { interaction, edit };
}

/** Runs `npm start`'s script; resolves with its exit code and both outputs. */
async function npmStart(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}

describe('secrets stay out of logs, errors and Discord messages', () => {
  it('the search finds a secret planted in a log line, an error cause and a message body', () => {
    const planted = new Error('outer', { cause: new Error(`inner ${EMBEDDINGS_API_KEY}`) });
    expect(leaks({ logs: [`{"msg":"x ${LLM_API_KEY}"}`], errors: [planted] })).toEqual([
      `log line 1: ${LLM_API_KEY}`,
      'log line 1: secret-key-yyy',
      `error 1: ${EMBEDDINGS_API_KEY}`,
      'error 1: secret-key-xxx',
    ]);
  });

  it('the logger given the secrets replaces them in any line, and scrubs interaction tokens from errors', () => {
    const lines: string[] = [];
    const destination = { write: (line: string) => void lines.push(line) };
    const logger = createLogger({
      level: 'info',
      destination,
      secrets: [DISCORD_TOKEN, LLM_API_KEY, undefined],
    });
    logger.info({ note: `pasted ${DISCORD_TOKEN}` }, `key ${LLM_API_KEY}`);
    const err = Object.assign(new Error('Unknown Webhook'), {
      url: 'https://discord.com/api/v10/webhooks/1300000000000000001/aW50ZXJhY3Rpb246MTIzNDU2Nzg5/messages/%40original',
    });
    logger.warn({ err }, 'edit failed');
    expect(lines).toHaveLength(2);
    expect(leaks({ logs: lines }, ['aW50ZXJhY3Rpb246MTIzNDU2Nzg5'])).toEqual([]);
    expect(lines[1]).toContain('/webhooks/1300000000000000001/[redacted]/messages');
    expect(err.url).toContain('aW50ZXJhY3Rpb246MTIzNDU2Nzg5');
  });

  it('a token Discord rejects (401): the start-up error and logs of runBot and of npm start do not contain it', async () => {
    const discord = await startDiscordDouble({ token: 'the-only-token-discord-accepts' });
    cleanups.push(() => discord.close());
    const { root, corpus } = await corpusDir();
    const llm = await openai();
    const env = {
      DISCORD_TOKEN,
      DISCORD_API_BASE: discord.apiBase,
      CORPUS_DIR: corpus,
      DATA_DIR: join(root, 'data'),
      LLM_BASE_URL: llm.baseURL,
      LLM_MODEL: 'test-model',
      LLM_API_KEY,
      EMBEDDINGS_API_KEY,
    };
    const recording = createRecordingLogger();
    const exit = await runBot(env, { logger: recording.logger, signals: [] });
    expect(exit).toEqual({
      code: 1,
      message: 'Discord rejected DISCORD_TOKEN: check the bot token in .env.',
    });
    expectNoLeaks({ logs: recording.lines, output: [exit.message ?? ''], discord });

    const started = await npmStart({ ...env, LOG_LEVEL: 'trace', DATA_DIR: join(root, 'data-npm') });
    expect(started.code).toBe(1);
    expectNoLeaks({ logs: started.stderr.split('\n').filter(Boolean), output: [started.stdout], discord });
    // Sanity: the token did travel, where it belongs.
    expect(discord.requests.some((r) => r.headers.authorization === `Bot ${DISCORD_TOKEN}`)).toBe(true);
  });

  it('gateway faults (resumable close, invalid session, revoked token): no token in the logs', async () => {
    const { h, double, recording } = await harness();
    // A question after each fault: the client has handled the RESUMED or READY before the next fault arrives.
    const resumed = double.waitForResume();
    double.closeGateway(4000);
    await resumed;
    await ask(double, 'Qui est Brad Smith ?');
    const identified = double.waitForIdentify();
    double.invalidateSession(false);
    await identified;
    await ask(double, 'Que contient Azure ?');
    double.closeGateway(4004);
    const fatal = await h.bot.disconnected;
    const messages = recording.records.map((r) => r.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'gateway connection lost: reconnecting',
        'gateway connection resumed',
        fatal.message,
      ]),
    );
    expectNoLeaks({ logs: recording.lines, errors: [fatal], discord: double });
  });

  it('Discord REST failures logged with their request: no interaction token in the logs', async () => {
    const { double, recording } = await harness();
    double.failRequests('PATCH /webhooks/*/*/messages/@original', { status: 500 }, { times: 4 });
    double.failRequests('POST /webhooks/*/*', {
      status: 400,
      body: { message: 'Invalid Form Body', code: 50035 },
    });
    const interaction = double.sendCommand({
      name: 'ask',
      locale: 'fr',
      user: double.users.member,
      options: [option('question', 'Qui est Brad Smith ?')],
    });
    await double.waitForResponse(
      (r) =>
        r.method === 'POST' &&
        r.path === `/channels/${double.textChannelId}/messages` &&
        r.response?.status === 200,
    );
    const failures = recording.records.filter((r) => r.msg === 'could not deliver the answer by this route');
    expect(failures).toHaveLength(2);
    expect(JSON.stringify(failures)).toContain(`/webhooks/${double.applicationId}/`);
    expectNoLeaks({ logs: recording.lines, discord: double }, [interaction.token]);
  });

  it.each([
    ['an sk- key', LLM_API_KEY],
    ['a key of another shape', OTHER_LLM_API_KEY],
  ])(
    'the language model echoes its API key (%s) in 401, 500 and 400 bodies and in a mid-stream error: no key in logs or replies',
    async (_shape, key) => {
      const llm = await openai();
      const { double, recording } = await harness({
        LLM_BASE_URL: llm.baseURL,
        LLM_MODEL: 'test-model',
        LLM_API_KEY: key,
        LLM_MAX_RETRIES: '1',
        LLM_TIMEOUT_MS: '5000',
        STREAM_EDIT_INTERVAL_MS: '60000',
      });
      const echo = (status: number, text: string) => ({
        status,
        retryAfter: 0,
        body: { error: { message: text, type: 'invalid_request_error', param: null, code: status } },
      });
      llm.scriptChat(
        echo(401, `Incorrect API key provided: ${key}. You can find your API key at https://example.org.`),
        echo(500, `upstream failed for key ${key}`),
        echo(500, `upstream failed again for key ${key}`),
        echo(400, `bad request from Bearer ${key}`),
        {
          garbage: `data: {"error":{"message":"quota exceeded for ${key}","type":"insufficient_quota"}}\n\n`,
        },
      );
      const questions = [
        'Qui est Brad Smith ?',
        'Que contient Azure ?',
        'Qui a révélé l’enquête ?',
        'Que fait l’unité 8200 ?',
      ];
      for (const question of questions) await ask(double, question);
      expect(llm.chatRequests()).toHaveLength(5);
      expect(llm.chatRequests().every((r) => r.headers.authorization === `Bearer ${key}`)).toBe(true);
      const failures = recording.records.filter(
        (r) => r.msg === 'LLM answer failed: extractive answer shown',
      );
      expect(failures.map((r) => r.code)).toEqual([
        'LLM_AUTH',
        'LLM_UNAVAILABLE',
        'LLM_FAILED',
        'LLM_FAILED',
      ]);
      expect(JSON.stringify(failures)).toContain('[redacted]');
      expectNoLeaks({ logs: recording.lines, discord: double });
    },
  );

  it('the embeddings endpoint fails with its API key in the body, at start-up and while answering: no key anywhere', async () => {
    const embeddings = await openai();
    const { root, corpus } = await corpusDir();
    const env = {
      CORPUS_DIR: corpus,
      DATA_DIR: join(root, 'data'),
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_BASE_URL: embeddings.baseURL,
      EMBEDDINGS_MODEL: 'fake-embedding',
      EMBEDDINGS_API_KEY,
      EMBEDDINGS_MAX_RETRIES: '1',
    };
    const startup = createRecordingLogger();
    embeddings.failNext('/v1/embeddings', 1, 401, {
      message: `Incorrect API key provided: ${EMBEDDINGS_API_KEY}`,
    });
    const rejected = await createApp(loadConfig(env), startup.logger).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(rejected).toMatchObject({ code: 'EMBEDDINGS_AUTH' });
    embeddings.failNext('/v1/embeddings', 2, 503, {
      retryAfter: '0',
      message: `overloaded, key ${EMBEDDINGS_API_KEY}`,
    });
    const exhausted = await createApp(loadConfig(env), startup.logger).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(exhausted).toMatchObject({ code: 'EMBEDDINGS_FAILED' });
    expectNoLeaks({ logs: startup.lines, errors: [rejected, exhausted] });

    const { double, recording } = await harness({
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_BASE_URL: embeddings.baseURL,
      EMBEDDINGS_MODEL: 'fake-embedding',
      EMBEDDINGS_MAX_RETRIES: '1',
    });
    embeddings.failNext('/v1/embeddings', 2, 500, {
      retryAfter: '0',
      message: `boom for ${EMBEDDINGS_API_KEY}`,
    });
    const failed = await ask(double, 'Qui est Brad Smith ?');
    embeddings.failNext('/v1/embeddings', 1, 400, { message: `invalid input; key=${EMBEDDINGS_API_KEY}` });
    const refused = await ask(double, 'Que contient Azure ?');
    for (const { edit } of [failed, refused]) expect(edit.body.content).toMatch(/Référence : `[0-9a-f]{8}`/);
    expect(recording.records.filter((r) => r.msg === 'interaction failed')).toHaveLength(2);
    expect(embeddings.requests.every((r) => r.headers.authorization === `Bearer ${EMBEDDINGS_API_KEY}`)).toBe(
      true,
    );
    expectNoLeaks({ logs: recording.lines, discord: double });
  });

  it('configuration errors name the bad keys without echoing a malformed token or a key put in the wrong place', async () => {
    const env = {
      DISCORD_TOKEN: `Bot ${DISCORD_TOKEN}\n`,
      LLM_API_KEY,
      EMBEDDINGS_API_KEY,
      DISCORD_API_BASE: DISCORD_TOKEN,
      LLM_BASE_URL: LLM_API_KEY,
      EMBEDDINGS_BASE_URL: `not a url ${EMBEDDINGS_API_KEY}`,
      LOG_LEVEL: LLM_API_KEY,
      EMBEDDINGS_PROVIDER: EMBEDDINGS_API_KEY,
      HNSW_M: DISCORD_TOKEN,
      MODERATOR_ROLE_IDS: DISCORD_TOKEN,
    };
    const thrown = (() => {
      try {
        loadConfig(env);
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (thrown as Error).message;
    for (const key of ['DISCORD_API_BASE', 'LLM_BASE_URL', 'LOG_LEVEL', 'EMBEDDINGS_PROVIDER', 'HNSW_M'])
      expect(message).toContain(key);
    const exit = await runBot(env, { signals: [] });
    expect(exit.code).toBe(78);
    expectNoLeaks({ logs: [message], errors: [thrown], output: [exit.message ?? ''] });
  });
});
