import type {
  AutocompleteInteraction,
  ChatInputCommandInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { Logger } from '../logger.js';
import type { QaService } from '../rag/service.js';
import type { BotStore } from './bot-store.js';
import type { ConversationMemory } from './conversations.js';
import type { Limiter } from './limiter.js';
import type { ModeratorPolicy } from './permissions.js';

/** Everything a handler needs, built once in the composition root and passed in. */
export interface BotContext {
  service: QaService;
  store: BotStore;
  limiter: Limiter;
  conversations: ConversationMemory;
  logger: Logger;
  policy: ModeratorPolicy;
  /** Downloads attachments; the global fetch in production. */
  fetch: typeof fetch;
  settings: {
    maxUploadBytes: number;
    fetchTimeoutMs: number;
    maxQuestionLength: number;
    streamEditIntervalMs: number;
  };
}

/** A slash command: its registration data and its handlers. */
export interface Command {
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  /** Checked again at run time, since server admins can override command permissions. */
  moderatorOnly?: boolean;
  execute(interaction: ChatInputCommandInteraction, ctx: BotContext, log: Logger): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction, ctx: BotContext): Promise<void>;
}
