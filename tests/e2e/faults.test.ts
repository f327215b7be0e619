import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageFlags } from 'discord.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBot } from '../../src/bot/bot.js';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { createSilentLogger } from '../../src/logger.js';
import type { QaService } from '../../src/rag/service.js';
import {
  IDENTIFY_AT_ONCE,
  startDiscordDouble,
  type DiscordDouble,
  type RecordedRequest,
} from '../helpers/discord-double.js';
import { temporaryDirectory } from '../helpers/documents.js';
import {
  isCallback,
  isFinalEdit,
  option,
  overrideService,
  quotesOf,
  SEED,
  startHarness,
  type Harness,
  type HarnessOptions,
} from './bot-harness.js';

/**
 * Discord failing under the bot: rate limits and server errors on every REST route the bot answers through, and
 * the gateway closing, invalidating the session, asking for a reconnect or going silent. The faults are injected by
 * the Discord double; the real discord.js client has to cope, and so does the bot's own delivery fallback. Every
 * scenario ends with the user holding a final answer whose quotes are verbatim in the corpus, and no deferred reply
 * left on "thinking…". Nothing sleeps: each step waits for the request or gateway event it expects.
 */

/** `@discordjs/rest` retries a 5xx this many times by default, then throws an HTTPError. */
const REST_RETRIES = 3;
const QUESTION = 'Qui est Brad Smith ?';
const OK = (r: RecordedRequest) => (r.response?.status ?? 0) >= 200 && (r.response?.status ?? 0) < 300;

let corpus: string;
beforeAll(async () => {
  corpus = (await readFile(SEED, 'utf8')).replace(/\s+/g, ' ');
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function start(
  options: HarnessOptions & { env?: Record<string, string> } = {},
  wrap?: (s: QaService) => QaService,
) {
  const { env, ...harnessOptions } = options;
  h = await startHarness(env ?? {}, wrap, { client: { ws: IDENTIFY_AT_ONCE }, ...harnessOptions });
  return h;
}

/** The answer's quotes are verbatim in the corpus, and no mention can fire. */
function expectVerifiedAnswer(body: any): void {
  const description: string = body?.embeds?.[0]?.description ?? '';
  const quotes = quotesOf(description);
  expect(quotes.length).toBeGreaterThan(0);
  for (const quote of quotes) expect(corpus).toContain(quote);
  expect(body.allowed_mentions).toEqual({ parse: [] });
}

/** The deferred reply is not left on "thinking…": answered, or deleted. */
function expectNoThinking(double: DiscordDouble, token: string): void {
  const original = double.originalMessage(token);
  expect((original?.flags ?? 0) & MessageFlags.Loading).toBe(0);
}

function sendAsk(double: DiscordDouble, question = QUESTION, extra: { private?: boolean } = {}) {
  return double.sendCommand({
    name: 'ask',
    locale: 'fr',
    user: double.users.member,
    options: [
      option('question', question),
      ...(extra.private === undefined ? [] : [option('private', extra.private)]),
    ],
  });
}

const isFollowUp = (double: DiscordDouble, token: string) => (r: RecordedRequest) =>
  r.method === 'POST' && r.path === `/webhooks/${double.applicationId}/${token}`;
const isChannelMessage = (double: DiscordDouble) => (r: RecordedRequest) =>
  r.method === 'POST' && r.path === `/channels/${double.textChannelId}/messages`;

/** `/ask`, then the successful final edit of its reply. */
async function askAnswered(double: DiscordDouble, question = QUESTION) {
  const interaction = sendAsk(double, question);
  const edit = await double.waitForResponse((r) => isFinalEdit(interaction.token)(r) && OK(r));
  expectVerifiedAnswer(edit.body);
  expectNoThinking(double, interaction.token);
  return { interaction, edit };
}

/** The gateway opcodes IDENTIFY (2) and RESUME (6) the client sent since `mark`, with RESUME's outcome. */
function handshakes(double: DiscordDouble, mark: number): string[] {
  return double.gatewayPayloads
    .slice(mark)
    .filter((p) => p.op === 2 || p.op === 6)
    .map((p) => (p.op === 2 ? 'identify' : p.accepted ? 'resume' : 'resume refused'));
}

describe('Discord REST faults: rate limits (429)', () => {
  it('a 429 on the interaction callback: discord.js waits retry_after, defers, and the answer arrives', async () => {
    const { double } = await start();
    const fault = double.failRequests('POST /interactions/*/*/callback', { status: 429, retryAfter: 0.05 });
    const { interaction } = await askAnswered(double);
    expect(fault.hits).toHaveLength(1);
    const callbacks = double.requests.filter(isCallback(interaction.id));
    expect(callbacks.map((r) => r.response?.status)).toEqual([429, 204]);
    expect(callbacks[1]?.body).toMatchObject({ type: 5 });
  });

  it('a 429 on editReply (PATCH @original): the final edit is retried and arrives', async () => {
    const { double } = await start();
    const fault = double.failRequests(
      'PATCH /webhooks/*/*/messages/@original',
      { status: 429, retryAfter: 0.05 },
      { times: 2 },
    );
    const { interaction, edit } = await askAnswered(double);
    expect(fault.hits).toHaveLength(2);
    expect(fault.hits.every((r) => r.path.endsWith(`/${interaction.token}/messages/@original`))).toBe(true);
    expect(edit.fault).toBeUndefined();
  });

  it('a global 429 on the follow-up route: when editReply keeps failing, the follow-up is retried and arrives', async () => {
    const { double } = await start();
    double.failRequests(
      'PATCH /webhooks/*/*/messages/@original',
      { status: 500 },
      { times: REST_RETRIES + 1 },
    );
    const fault = double.failRequests('POST /webhooks/*/*', { status: 429, retryAfter: 0.05, global: true });
    const interaction = sendAsk(double);
    const followUp = await double.waitForResponse((r) => isFollowUp(double, interaction.token)(r) && OK(r));
    expect(fault.hits).toHaveLength(1);
    expect(fault.hits[0]?.response?.status).toBe(429);
    expectVerifiedAnswer(followUp.body);
    expectNoThinking(double, interaction.token);
  });

  it('a 429 on channel message create: the reply to a mention arrives', async () => {
    const { double } = await start();
    const fault = double.failRequests('POST /channels/*/messages', {
      status: 429,
      retryAfter: 0.05,
      scope: 'shared',
    });
    const message = double.sendMessage({ content: QUESTION, mentionBot: true, author: double.users.member });
    const reply = await double.waitForResponse((r) => isChannelMessage(double)(r) && OK(r));
    expect(fault.hits).toHaveLength(1);
    expect(reply.body.message_reference).toMatchObject({ message_id: message.id });
    expectVerifiedAnswer(reply.body);
  });
});

describe('Discord REST faults: server errors and dropped connections', () => {
  it('500s on editReply beyond discord.js’s retries: the answer is sent as a follow-up, which replaces “thinking…”', async () => {
    const { double } = await start();
    const fault = double.failRequests(
      'PATCH /webhooks/*/*/messages/@original',
      { status: 500 },
      { times: REST_RETRIES + 1 },
    );
    const interaction = sendAsk(double);
    const followUp = await double.waitForResponse((r) => isFollowUp(double, interaction.token)(r) && OK(r));
    expect(fault.hits.map((r) => r.response?.status)).toEqual([500, 500, 500, 500]);
    expectVerifiedAnswer(followUp.body);
    const original = double.originalMessage(interaction.token);
    expect(original?.embeds[0]?.description).toBe(followUp.body.embeds[0].description);
    expectNoThinking(double, interaction.token);
    expect(double.requests.some(isChannelMessage(double))).toBe(false);
  });

  it('502s on editReply and 503s on the follow-up: the answer goes to the channel, addressed to the asker, and “thinking…” is deleted', async () => {
    const { double } = await start();
    const edits = double.failRequests(
      'PATCH /webhooks/*/*/messages/@original',
      { status: 502 },
      { times: REST_RETRIES + 1 },
    );
    const followUps = double.failRequests('POST /webhooks/*/*', { status: 503 }, { times: REST_RETRIES + 1 });
    const interaction = sendAsk(double);
    const posted = await double.waitForResponse((r) => isChannelMessage(double)(r) && OK(r));
    const deleted = await double.waitForResponse(
      (r) => r.method === 'DELETE' && r.path.endsWith(`/${interaction.token}/messages/@original`),
    );
    expect(edits.remaining + followUps.remaining).toBe(0);
    expectVerifiedAnswer(posted.body);
    expect(posted.body.content).toBe(`<@${double.users.member.id}>`);
    expect(deleted.response?.status).toBe(204);
    expect(double.originalMessage(interaction.token)).toBeUndefined();
  });

  it('a private answer whose edit keeps failing goes to an ephemeral follow-up, never to the channel', async () => {
    const { double } = await start();
    double.failRequests(
      'PATCH /webhooks/*/*/messages/@original',
      { status: 500 },
      { times: REST_RETRIES + 1 },
    );
    const interaction = sendAsk(double, QUESTION, { private: true });
    const followUp = await double.waitForResponse((r) => isFollowUp(double, interaction.token)(r) && OK(r));
    expectVerifiedAnswer(followUp.body);
    expect((double.originalMessage(interaction.token)?.flags ?? 0) & MessageFlags.Ephemeral).toBe(
      MessageFlags.Ephemeral,
    );
    expectNoThinking(double, interaction.token);
    expect(double.requests.some(isChannelMessage(double))).toBe(false);
  });

  it('a connection reset on editReply (which discord.js does not retry): the answer is sent as a follow-up', async () => {
    const { double } = await start();
    const fault = double.failRequests('PATCH /webhooks/*/*/messages/@original', { reset: true });
    const interaction = sendAsk(double);
    const followUp = await double.waitForResponse((r) => isFollowUp(double, interaction.token)(r) && OK(r));
    expect(fault.hits).toHaveLength(1);
    expectVerifiedAnswer(followUp.body);
    expectNoThinking(double, interaction.token);
  });

  it('500s on the interaction callback (the deferral and the reply fail): the answer still reaches the channel', async () => {
    const { double } = await start();
    const fault = double.failRequests(
      'POST /interactions/*/*/callback',
      { status: 500 },
      { times: 2 * (REST_RETRIES + 1) },
    );
    const interaction = sendAsk(double);
    const posted = await double.waitForResponse((r) => isChannelMessage(double)(r) && OK(r));
    expect(fault.remaining).toBe(0);
    expect(double.requests.filter(isCallback(interaction.id)).every((r) => r.response?.status === 500)).toBe(
      true,
    );
    expectVerifiedAnswer(posted.body);
    expect(posted.body.content).toBe(`<@${double.users.member.id}>`);
    expect(double.originalMessage(interaction.token)).toBeUndefined();
  });

  it('500s on the reply to a mention: the answer is posted in the channel, addressed to the author', async () => {
    const { double } = await start();
    const fault = double.failRequests(
      'POST /channels/*/messages',
      { status: 500 },
      { times: REST_RETRIES + 1 },
    );
    double.sendMessage({ content: QUESTION, mentionBot: true, author: double.users.member });
    const posted = await double.waitForResponse((r) => isChannelMessage(double)(r) && OK(r));
    expect(fault.hits).toHaveLength(REST_RETRIES + 1);
    expect(fault.hits.every((r) => r.body.message_reference !== undefined)).toBe(true);
    expect(posted.body.message_reference).toBeUndefined();
    expect(posted.body.content).toBe(`<@${double.users.member.id}>`);
    expectVerifiedAnswer(posted.body);
  });

  it('500s on the final edit of a streamed mention reply: a new reply carries the answer and the partial one is deleted', async () => {
    const streaming = (service: QaService) =>
      overrideService(service, {
        ask: async (question, options) => {
          const result = await service.ask(question, options);
          if (result.kind === 'answer')
            options?.onProgress?.({
              language: result.language,
              framing: result.framing,
              claims: [],
              quotes: result.quotes.slice(0, 1),
            });
          return result;
        },
      });
    const { double } = await start({ env: { STREAM_EDIT_INTERVAL_MS: '0' } }, streaming);
    const fault = double.failRequests(
      'PATCH /channels/*/messages/*',
      { status: 500 },
      { times: REST_RETRIES + 1 },
    );
    const message = double.sendMessage({ content: QUESTION, mentionBot: true, author: double.users.member });
    const partial = await double.waitForResponse((r) => isChannelMessage(double)(r) && OK(r));
    const partialId = (partial.response?.body as { id: string }).id;
    const deleted = await double.waitForResponse(
      (r) => r.method === 'DELETE' && r.path === `/channels/${double.textChannelId}/messages/${partialId}`,
    );
    const final = double.requests.filter((r) => isChannelMessage(double)(r) && OK(r)).at(-1)!;
    expect(fault.hits).toHaveLength(REST_RETRIES + 1);
    expect(final).not.toBe(partial);
    expect(final.body.message_reference).toMatchObject({ message_id: message.id });
    expectVerifiedAnswer(final.body);
    expect(final.body.components.length).toBeGreaterThan(0);
    expect(deleted.response?.status).toBe(204);
    expect(double.messages.has(partialId)).toBe(false);
  });
});

describe('Discord gateway faults', () => {
  it('a resumable close (4000): the client RESUMEs, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const resumed = double.waitForResume();
    double.closeGateway(4000);
    await resumed;
    expect(handshakes(double, mark)).toEqual(['resume']);
    expect(double.identifies).toBe(1);
    await askAnswered(double);
  });

  it('an abnormal closure (1006, the socket just dies): the client RESUMEs, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const resumed = double.waitForResume();
    double.closeGateway(1006);
    await resumed;
    expect(handshakes(double, mark)).toEqual(['resume']);
    await askAnswered(double);
  });

  it('an invalid sequence close (4007): the client IDENTIFYs again, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const identified = double.waitForIdentify();
    double.closeGateway(4007);
    await identified;
    expect(handshakes(double, mark)).toEqual(['identify']);
    expect(double.identifies).toBe(2);
    await askAnswered(double);
  });

  it('a session timeout close (4009): the RESUME is refused with op 9, the client IDENTIFYs, and answers', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const identified = double.waitForIdentify();
    double.closeGateway(4009);
    await identified;
    expect(handshakes(double, mark)).toEqual(['resume refused', 'identify']);
    expect(double.resumes).toBe(0);
    await askAnswered(double);
  });

  it('op 7 Reconnect: the client reconnects and RESUMEs, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const resumed = double.waitForResume();
    double.requestReconnect();
    await resumed;
    expect(handshakes(double, mark)).toEqual(['resume']);
    await askAnswered(double);
  });

  it('op 9 Invalid Session d=true: the client RESUMEs, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const resumed = double.waitForResume();
    double.invalidateSession(true);
    await resumed;
    expect(handshakes(double, mark)).toEqual(['resume']);
    expect(double.identifies).toBe(1);
    await askAnswered(double);
  });

  it('op 9 Invalid Session d=false: the client IDENTIFYs a new session, and the next question is answered', async () => {
    const { double } = await start();
    const mark = double.gatewayPayloads.length;
    const identified = double.waitForIdentify();
    double.invalidateSession(false);
    await identified;
    expect(handshakes(double, mark)).toEqual(['identify']);
    expect(double.identifies).toBe(2);
    await askAnswered(double);
  });

  it('heartbeats no longer acknowledged: the client detects the zombie connection, RESUMEs, and answers', async () => {
    const { double } = await start({ double: { heartbeatIntervalMs: 250 } });
    const mark = double.gatewayPayloads.length;
    const resumed = double.waitForResume();
    double.stopHeartbeatAcks();
    await resumed;
    const since = double.gatewayPayloads.slice(mark);
    const resumeAt = since.findIndex((p) => p.op === 6);
    expect(since.slice(0, resumeAt).filter((p) => p.op === 1).length).toBeGreaterThanOrEqual(1);
    expect(handshakes(double, mark)).toEqual(['resume']);
    await askAnswered(double);
  });

  it('an interaction sent while the connection is down is replayed after the RESUME and answered', async () => {
    const { double } = await start();
    const resumed = double.waitForResume();
    double.closeGateway(4000);
    const interaction = sendAsk(double);
    await resumed;
    const edit = await double.waitForResponse((r) => isFinalEdit(interaction.token)(r) && OK(r));
    expectVerifiedAnswer(edit.body);
  });
});

describe('Discord gateway faults that are fatal', () => {
  const clients: { cleanup: () => Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.cleanup();
  });

  async function bare(code: number) {
    const double = await startDiscordDouble();
    const dir = await temporaryDirectory('verbatim-fatal-');
    clients.push({
      cleanup: async () => {
        await double.close();
        await dir.cleanup();
      },
    });
    double.failNextIdentify(code);
    const config = loadConfig({
      DISCORD_TOKEN: double.token,
      DISCORD_API_BASE: double.apiBase,
      DATA_DIR: join(dir.path, 'data'),
    });
    const service = {} as QaService;
    return { double, dir, attempt: startBot({ config, service, logger: createSilentLogger() }) };
  }

  it('4004 on IDENTIFY (the gateway rejects the token): startBot fails with a clear message instead of looping', async () => {
    const { double, attempt } = await bare(4004);
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: 'DISCORD_TOKEN_INVALID',
      message: 'Discord rejected DISCORD_TOKEN: check the bot token in .env.',
    });
    expect(double.gatewayPayloads.filter((p) => p.op === 2)).toHaveLength(1);
    expect(double.injectedFaults.map((f) => f.kind)).toEqual(['identify closed 4004']);
  });

  it('4014 on IDENTIFY (intents not allowed): startBot fails and says to check the intents', async () => {
    const { attempt } = await bare(4014);
    await expect(attempt).rejects.toMatchObject({
      code: 'DISCORD_LOGIN_FAILED',
      message: expect.stringMatching(/intents \(close code 4014\)/),
    });
  });

  it('4004 while running (token revoked): the bot reports the fatal disconnection instead of idling', async () => {
    const { double, bot } = await start();
    double.closeGateway(4004);
    const err = await bot.disconnected;
    expect(err).toMatchObject({ code: 'DISCORD_TOKEN_INVALID' });
  });

  it('npm start exits 1 with one clear line when the gateway rejects the token', async () => {
    const double = await startDiscordDouble();
    const dir = await temporaryDirectory('verbatim-fatal-start-');
    clients.push({
      cleanup: async () => {
        await double.close();
        await dir.cleanup();
      },
    });
    await mkdir(join(dir.path, 'corpus'));
    await copyFile(SEED, join(dir.path, 'corpus', 'seed.md'));
    double.failNextIdentify(4004);
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: {
        ...process.env,
        DISCORD_TOKEN: double.token,
        DISCORD_API_BASE: double.apiBase,
        CORPUS_DIR: join(dir.path, 'corpus'),
        DATA_DIR: join(dir.path, 'data'),
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('Discord rejected DISCORD_TOKEN: check the bot token in .env.');
    expect(double.gatewayPayloads.filter((p) => p.op === 2)).toHaveLength(1);
  });
});
