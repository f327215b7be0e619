/**
 * The bot of tests/soak/discord-soak.test.ts, in its own process (`node --expose-gc --import tsx`, started with an
 * IPC channel), so that the memory it reports is the bot's and not the Discord double's, which records every
 * request. It wires the app and the bot as `npm start` does (createApp, refresh, startBot) into the double whose
 * address it is given, with one addition: a gate in front of `service.ask` that the test closes and opens, so that
 * the number of answers in flight, queued and refused is decided by the test and not by timing.
 *
 * Requests from the test: `{ id, type, ...args }`; answers `{ id, ok, value | error }`. Types: `hold` (close the
 * gate), `waitHeld { count }` (resolves once `count` asks wait at the gate), `release` (open it), `measure` (wait for
 * the limiter to be idle, collect garbage, read memory and the bot's state), `stop`.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startBot } from '../../src/bot/bot.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createApp } from '../../src/main.js';
import { overrideService } from '../e2e/bot-harness.js';
import { temporaryDirectory } from '../helpers/documents.js';
import { settledMemory, type MemorySample } from './memory.js';

export interface BotChildSettings {
  /** Configuration keys (DISCORD_API_BASE, DISCORD_TOKEN, the limits); CORPUS_DIR and DATA_DIR are set here. */
  env: Record<string, string>;
  /** The article to copy into the bot's corpus. */
  article: string;
}

/** What `measure` answers. */
export interface BotState {
  memory: MemorySample;
  limiter: { active: number; queued: number };
  /** The most asks ever inside the service at once. */
  maxInService: number;
  asks: number;
  conversations: number;
  /** discord.js caches: users, channels (DMs included), guild members, messages cached over every channel. */
  caches: { users: number; channels: number; members: number; messages: number };
  /** Log records at level error or above, and the first few of them. */
  errors: { count: number; examples: string[] };
  unhandledRejections: { count: number; examples: string[] };
  /**
   * `stop` only: the heap once discord.js's caches of users, guild members, DM channels and messages are emptied,
   * to tell how much of any growth they hold.
   */
  heapWithoutDiscordCaches?: number;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as BotChildSettings;

const limited = () => ({ count: 0, examples: [] as string[] });
const unhandledRejections = limited();
process.on('unhandledRejection', (reason) => {
  unhandledRejections.count += 1;
  if (unhandledRejections.examples.length < 10)
    unhandledRejections.examples.push(String((reason as Error)?.stack ?? reason));
});
// Errors are counted, not kept: a soak must not measure its own log.
const errors = limited();
const logger = createLogger({
  level: 'error',
  destination: new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        errors.count += 1;
        if (errors.examples.length < 10) errors.examples.push(line.slice(0, 2000));
      }
      callback();
    },
  }),
});

const dir = await temporaryDirectory('verbatim-soak-bot-');
const corpusDir = join(dir.path, 'corpus');
await mkdir(corpusDir);
await copyFile(settings.article, join(corpusDir, 'article.md'));
const config = loadConfig({ ...settings.env, CORPUS_DIR: corpusDir, DATA_DIR: join(dir.path, 'data') });
const app = await createApp(config, logger);
await app.service.refresh();

let gate: { opened: Promise<void>; open: () => void } | undefined;
let held = 0;
let inService = 0;
let maxInService = 0;
let asks = 0;
const heldWaiters = new Set<{ count: number; resolve: () => void }>();
const service = overrideService(app.service, {
  async ask(question, options) {
    inService += 1;
    asks += 1;
    maxInService = Math.max(maxInService, inService);
    try {
      if (gate) {
        const { opened } = gate;
        held += 1;
        for (const waiter of heldWaiters)
          if (held >= waiter.count) {
            heldWaiters.delete(waiter);
            waiter.resolve();
          }
        await opened;
        held -= 1;
      }
      return await app.service.ask(question, options);
    } finally {
      inService -= 1;
    }
  },
});
const bot = await startBot({ config, service, logger });

async function state(): Promise<BotState> {
  await bot.context.limiter.idle();
  const memory = await settledMemory();
  const client = bot.client;
  let messages = 0;
  for (const channel of client.channels.cache.values())
    if ('messages' in channel) messages += channel.messages.cache.size;
  return {
    memory,
    limiter: { active: bot.context.limiter.active, queued: bot.context.limiter.queued },
    maxInService,
    asks,
    conversations: bot.context.conversations.size,
    caches: {
      users: client.users.cache.size,
      channels: client.channels.cache.size,
      members: client.guilds.cache.reduce((n, g) => n + g.members.cache.size, 0),
      messages,
    },
    errors,
    unhandledRejections,
  };
}

const handlers: Record<string, (request: Record<string, unknown>) => Promise<unknown>> = {
  async hold() {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    gate = { opened, open };
  },
  async waitHeld(request) {
    const count = Number(request.count);
    if (held < count) await new Promise<void>((resolve) => heldWaiters.add({ count, resolve }));
    return { held, active: bot.context.limiter.active, queued: bot.context.limiter.queued };
  },
  async release() {
    gate?.open();
    gate = undefined;
  },
  measure: () => state(),
  async stop() {
    const last = await state();
    const client = bot.client;
    client.users.cache.sweep((user) => user.id !== client.user.id);
    client.channels.cache.sweep((channel) => channel.isDMBased());
    for (const guild of client.guilds.cache.values()) {
      guild.members.cache.sweep((member) => member.id !== client.user.id);
      for (const channel of guild.channels.cache.values())
        if ('messages' in channel) channel.messages.cache.clear();
    }
    last.heapWithoutDiscordCaches = (await settledMemory()).heapUsed;
    await bot.stop();
    await app.close();
    await dir.cleanup();
    return last;
  },
};

process.on('message', (request: Record<string, unknown>) => {
  const handler = handlers[String(request.type)];
  const reply = (body: Record<string, unknown>, then?: () => void) =>
    process.send?.({ id: request.id, ...body }, undefined, {}, () => then?.());
  if (!handler) return reply({ ok: false, error: `unknown request ${String(request.type)}` });
  handler(request).then(
    (value) => reply({ ok: true, value }, request.type === 'stop' ? () => process.disconnect() : undefined),
    (err: unknown) => reply({ ok: false, error: String((err as Error)?.stack ?? err) }),
  );
});
process.send?.({ event: 'ready' });
