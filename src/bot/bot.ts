import { once } from 'node:events';
import {
  Client,
  DiscordjsErrorCodes,
  Events,
  GatewayCloseCodes,
  GatewayIntentBits,
  Options,
  Partials,
  type ClientOptions,
} from 'discord.js';
import type { Config } from '../config.js';
import { AppError, ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { QaService } from '../rag/service.js';
import { BotStore } from './bot-store.js';
import { commands } from './commands/index.js';
import type { BotContext } from './context.js';
import { createConversationMemory } from './conversations.js';
import { createInteractionHandler } from './dispatch.js';
import { createLimiter } from './limiter.js';
import { createMessageHandler } from './messages.js';
import { NO_MENTIONS } from './render.js';

/** A logged-in bot. */
export interface RunningBot {
  client: Client<true>;
  context: BotContext;
  /**
   * Resolves when Discord closes the gateway for good (a fatal close code such as 4004, the token was revoked):
   * discord.js does not reconnect after those, so the process should exit with this error's message.
   */
  disconnected: Promise<AppError>;
  /** Stops taking questions, waits for those in flight, logs out. */
  stop(): Promise<void>;
}

/**
 * What a fatal gateway close code means for the operator, or `undefined` for the codes after which discord.js
 * resumes or identifies again by itself (4000-4003, 4005, 4007-4009, network drops, op 7 and op 9).
 */
export function fatalGatewayError(code: number): AppError | undefined {
  switch (code) {
    case GatewayCloseCodes.AuthenticationFailed:
      return new AppError(
        ErrorCode.DISCORD_TOKEN_INVALID,
        'Discord rejected DISCORD_TOKEN: check the bot token in .env.',
      );
    case GatewayCloseCodes.DisallowedIntents:
    case GatewayCloseCodes.InvalidIntents:
      return new AppError(
        ErrorCode.DISCORD_LOGIN_FAILED,
        `Discord refused the bot's gateway intents (close code ${code}): check the intents allowed for the bot in the Discord Developer Portal.`,
      );
    case GatewayCloseCodes.InvalidShard:
    case GatewayCloseCodes.ShardingRequired:
    case GatewayCloseCodes.InvalidAPIVersion:
      return new AppError(
        ErrorCode.DISCORD_LOGIN_FAILED,
        `Discord closed the gateway connection for good (close code ${code}, ${GatewayCloseCodes[code]}).`,
      );
    default:
      return undefined;
  }
}

/**
 * The discord.js client: no privileged intent (DMs and mentions carry their content), mentions never parsed.
 * `options.rest` tunes `@discordjs/rest` (it retries a 5xx `retries` times, 3 by default, and waits out 429s);
 * `options.ws` the gateway (e.g. its identify throttle, which spaces IDENTIFYs 5 seconds apart).
 */
export function createDiscordClient(
  config: Pick<Config, 'DISCORD_API_BASE'>,
  options: Pick<ClientOptions, 'rest' | 'ws'> = {},
): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages],
    // DM channels are not cached at start: without the Channel partial discord.js drops their first message.
    partials: [Partials.Channel],
    // discord.js keeps every user, member and message it sees (about 5 KiB per new user, measured by the soak):
    // the bot needs none of them after answering, so the caches are capped and swept.
    makeCache: Options.cacheWithLimits({
      ...Options.DefaultMakeCacheSettings,
      MessageManager: 20,
      UserManager: { maxSize: 1000, keepOverLimit: (user) => user.id === user.client.user.id },
      GuildMemberManager: { maxSize: 200, keepOverLimit: (member) => member.id === member.client.user.id },
    }),
    sweepers: {
      ...Options.DefaultSweeperSettings,
      messages: { interval: 900, lifetime: 1800 },
      users: { interval: 3600, filter: () => (user) => user.id !== user.client.user.id },
    },
    rest: { api: config.DISCORD_API_BASE, ...options.rest },
    ...(options.ws ? { ws: options.ws } : {}),
    allowedMentions: NO_MENTIONS,
  });
}

/**
 * Wires the handlers onto a client and logs in. A missing or rejected token is an {@link AppError} with a clear
 * message; handler failures never reach the process (each handler has its own error boundary).
 */
export async function startBot(deps: {
  config: Config;
  service: QaService;
  logger: Logger;
  fetch?: typeof fetch;
  client?: Client;
}): Promise<RunningBot> {
  const { config, service, logger } = deps;
  if (!config.DISCORD_TOKEN) {
    throw new AppError(
      ErrorCode.DISCORD_TOKEN_MISSING,
      'DISCORD_TOKEN is not set: put your bot token in .env (see .env.example).',
    );
  }
  const store = new BotStore(config.DATA_DIR);
  const context: BotContext = {
    service,
    store,
    logger,
    limiter: createLimiter({
      maxConcurrent: config.MAX_CONCURRENT_ANSWERS,
      maxQueued: config.MAX_QUEUED_ANSWERS,
      cooldownMs: config.ASK_COOLDOWN_SECONDS * 1000,
    }),
    conversations: createConversationMemory({
      turns: config.CONVERSATION_TURNS,
      ttlMs: config.CONVERSATION_TTL_MINUTES * 60_000,
    }),
    policy: { moderatorRoleIds: config.MODERATOR_ROLE_IDS, ownerIds: config.BOT_OWNER_IDS },
    fetch: deps.fetch ?? fetch,
    settings: {
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
      fetchTimeoutMs: config.FETCH_TIMEOUT_MS,
      maxQuestionLength: config.MAX_QUESTION_LENGTH,
      streamEditIntervalMs: config.STREAM_EDIT_INTERVAL_MS,
    },
  };
  const client = deps.client ?? createDiscordClient(config);
  const onInteraction = createInteractionHandler(commands, context);
  const onMessage = createMessageHandler(context, () => client.user?.id);
  client.on(Events.InteractionCreate, (interaction) => void onInteraction(interaction));
  client.on(Events.MessageCreate, (message) => void onMessage(message));
  client.on(Events.Error, (err) => logger.error({ err }, 'discord client error'));
  client.on(Events.ShardError, (err) => logger.warn({ err }, 'gateway connection error'));
  let stopping = false;
  // discord.js also reports a reconnection when the client is destroyed on purpose.
  client.on(Events.ShardReconnecting, () => {
    if (!stopping) logger.warn('gateway connection lost: reconnecting');
  });
  client.on(Events.ShardResume, () => logger.info('gateway connection resumed'));
  // discord.js emits shardDisconnect only for the close codes it will not recover from.
  let fatal: AppError | undefined;
  let onFatal!: (err: AppError) => void;
  const disconnected = new Promise<AppError>((resolve) => (onFatal = resolve));
  client.on(Events.ShardDisconnect, (event) => {
    fatal ??=
      fatalGatewayError(event.code) ??
      new AppError(
        ErrorCode.DISCORD_LOGIN_FAILED,
        `Discord closed the gateway connection for good (close code ${event.code}).`,
      );
    logger.error({ code: event.code, errorCode: fatal.code }, fatal.message);
    onFatal(fatal);
  });

  const ready = once(client, Events.ClientReady);
  ready.catch(() => undefined);
  try {
    await client.login(config.DISCORD_TOKEN);
    await ready;
  } catch (err) {
    await client.destroy();
    store.close();
    if (fatal) throw new AppError(fatal.code, fatal.message, { cause: err });
    const code = (err as { code?: unknown }).code;
    const status = (err as { status?: unknown }).status;
    if (code === DiscordjsErrorCodes.TokenInvalid || status === 401 || code === 4004) {
      throw new AppError(
        ErrorCode.DISCORD_TOKEN_INVALID,
        'Discord rejected DISCORD_TOKEN: check the bot token in .env.',
        { cause: err },
      );
    }
    throw new AppError(
      ErrorCode.DISCORD_LOGIN_FAILED,
      `Could not connect to Discord at ${config.DISCORD_API_BASE}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  logger.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'bot logged in');

  return {
    client: client as Client<true>,
    context,
    disconnected,
    async stop() {
      context.limiter.close();
      await context.limiter.idle();
      stopping = true;
      await client.destroy();
      store.close();
    },
  };
}
