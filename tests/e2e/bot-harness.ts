import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationCommandOptionType, type ClientOptions } from 'discord.js';
import { createDiscordClient, startBot, type RunningBot } from '../../src/bot/bot.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createSilentLogger, type Logger } from '../../src/logger.js';
import { createApp, type App } from '../../src/main.js';
import type { QaService } from '../../src/rag/service.js';
import { temporaryDirectory } from '../helpers/documents.js';
import {
  startDiscordDouble,
  type DiscordDouble,
  type RecordedRequest,
  type StartDiscordDoubleOptions,
} from '../helpers/discord-double.js';

export const SEED = 'corpus/microsoft-azure-israel-defense.md';

/** A running bot, logged into a local Discord double, over a temporary copy of the corpus. */
export interface Harness {
  double: DiscordDouble;
  bot: RunningBot;
  app: App;
  config: Config;
  corpusDir: string;
  root: string;
  stop(): Promise<void>;
}

/** Wiring for fault and secret tests; every field is optional. */
export interface HarnessOptions {
  /** Options of the Discord double (a short heartbeat interval, another token, ...). */
  double?: StartDiscordDoubleOptions;
  /** discord.js client options: `rest` (`retries`, `timeout`, `offset`) and `ws` (e.g. the identify throttle). */
  client?: Pick<ClientOptions, 'rest' | 'ws'>;
  /** The logger of the app and the bot; silent by default. */
  logger?: Logger;
}

export async function startHarness(
  env: Record<string, string> = {},
  wrapService?: (s: QaService) => QaService,
  harnessOptions: HarnessOptions = {},
): Promise<Harness> {
  const dir = await temporaryDirectory('verbatim-e2e-');
  const corpusDir = join(dir.path, 'corpus');
  await mkdir(corpusDir);
  await copyFile(SEED, join(corpusDir, 'microsoft-azure-israel-defense.md'));
  const double = await startDiscordDouble(harnessOptions.double);
  const config = loadConfig({
    CORPUS_DIR: corpusDir,
    DATA_DIR: join(dir.path, 'data'),
    DISCORD_TOKEN: double.token,
    DISCORD_API_BASE: double.apiBase,
    ASK_COOLDOWN_SECONDS: '0',
    MODERATOR_ROLE_IDS: double.moderatorRoleId,
    BOT_OWNER_IDS: double.users.owner.id,
    URL_FETCH_ALLOWED_NETWORKS: '127.0.0.1',
    ...env,
  });
  const logger = harnessOptions.logger ?? createSilentLogger();
  const app = await createApp(config, logger);
  await app.service.refresh();
  const service = wrapService ? wrapService(app.service) : app.service;
  const bot = await startBot({
    config,
    service,
    logger,
    ...(harnessOptions.client ? { client: createDiscordClient(config, harnessOptions.client) } : {}),
  });
  return {
    double,
    bot,
    app,
    config,
    corpusDir,
    root: dir.path,
    async stop() {
      await bot.stop().catch(() => undefined);
      await app.close();
      await double.close();
      await dir.cleanup();
    },
  };
}

/** The service with some methods replaced (the getters keep reading the real service). */
export function overrideService(
  service: QaService,
  overrides: Partial<Pick<QaService, 'ask' | 'refresh' | 'addDocument' | 'removeDocument'>>,
): QaService {
  return {
    ask: (question, options) => service.ask(question, options),
    listDocuments: (range) => service.listDocuments(range),
    findDocuments: (text, limit) => service.findDocuments(text, limit),
    get documentCount() {
      return service.documentCount;
    },
    getDocument: (id) => service.getDocument(id),
    refresh: (onProgress) => service.refresh(onProgress),
    addDocument: (file) => service.addDocument(file),
    addFromUrl: (url) => service.addFromUrl(url),
    removeDocument: (id) => service.removeDocument(id),
    get corpusVersion() {
      return service.corpusVersion;
    },
    ...overrides,
  };
}

/** A slash command option. */
export const option = (
  name: string,
  value: string | boolean,
  type = typeof value === 'boolean'
    ? ApplicationCommandOptionType.Boolean
    : ApplicationCommandOptionType.String,
) => ({
  name,
  type,
  value,
});

/** `/corpus <sub>` options. */
export const sub = (name: string, options: unknown[] = []) => [
  { name, type: ApplicationCommandOptionType.Subcommand, options },
];

export const isCallback = (id: string) => (r: RecordedRequest) =>
  r.method === 'POST' && r.path.startsWith(`/interactions/${id}/`);
export const isOriginalEdit = (token: string) => (r: RecordedRequest) =>
  r.method === 'PATCH' && r.path.endsWith(`/${token}/messages/@original`);
export const isFinalEdit = (token: string) => (r: RecordedRequest) =>
  isOriginalEdit(token)(r) &&
  ((r.body?.embeds?.length ?? 0) > 0 || (r.body?.content ?? '').length > 0) &&
  !String(r.body?.content ?? '').startsWith('⏳');

/** Who asks, and how. */
export interface AskExtra {
  private?: boolean;
  user?: DiscordDouble['users']['member'];
  locale?: string;
}

/** Sends `/ask` and waits for the deferral and the final edit of the reply. */
export async function askAndWait(double: DiscordDouble, question: string, extra: AskExtra = {}) {
  const options = [
    option('question', question),
    ...(extra.private === undefined ? [] : [option('private', extra.private)]),
  ];
  const interaction = double.sendCommand({
    name: 'ask',
    options,
    user: extra.user ?? double.users.member,
    locale: extra.locale ?? 'fr',
  });
  const callback = await double.waitForRequest(isCallback(interaction.id));
  const edit = await double.waitForRequest(isFinalEdit(interaction.token));
  return { interaction, callback, edit };
}

/** The quotes of an answer embed, with Discord's Markdown escapes and citation numbers removed. */
export function quotesOf(description: string): string[] {
  return description
    .split('\n\n')
    .filter((block) => block.startsWith('> '))
    .map((block) =>
      block
        .replace(/^> /gm, '')
        .replace(/ \*\*\[\d+\]\*\*$/, '')
        .replace(/\\([*_`~|>\\])/g, '$1'),
    );
}
