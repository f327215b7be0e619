import type { Logger } from '../logger.js';
import type { AskResult, Language, PartialAnswer } from '../rag/service.js';
import type { BotContext } from './context.js';
import { t } from './i18n.js';
import type { Admission } from './limiter.js';
import { renderResult, type RenderedMessage } from './render.js';

/** Who asks, from where, in which language. */
export interface Asker {
  userId: string;
  guildId: string | null;
  language: Language | undefined;
  context?: readonly string[];
  /** Receives the verified part of an LLM answer while it streams. */
  onProgress?: (partial: PartialAnswer) => void;
}

/** Asks the service, keeps the answer for its buttons, and renders it for Discord. */
export async function prepareAnswer(
  ctx: BotContext,
  question: string,
  asker: Asker,
): Promise<{ result: AskResult; pages: RenderedMessage[] }> {
  const result = await ctx.service.ask(question, {
    ...(asker.language ? { language: asker.language } : {}),
    ...(asker.context ? { context: asker.context } : {}),
    ...(asker.onProgress ? { onProgress: asker.onProgress } : {}),
  });
  if (result.kind === 'answer') ctx.store.saveAnswer(result, question, asker.userId, asker.guildId);
  return { result, pages: renderResult(result) };
}

/** The message for a refused admission (cooldown, full queue, shutting down). */
export function refusalMessage(
  admission: Exclude<Admission, { kind: 'admitted' }>,
  language: Language,
): string {
  const text = t(language);
  switch (admission.kind) {
    case 'cooldown':
      return text.cooldown(admission.retryAfterSeconds);
    case 'busy':
      return text.busy;
    case 'closed':
      return text.shuttingDown;
  }
}

/** One way of getting a message to the user, tried in order by {@link deliver}. */
export interface DeliveryRoute {
  /** For the logs: `editReply`, `followUp`, `reply`, `channel`. */
  name: string;
  send(): Promise<unknown>;
}

/**
 * Sends a message by the first route that works and resolves with that route's name. discord.js has already
 * retried each route (it waits out 429s and retries a 5xx `rest.retries` times); a route that still fails
 * (`HTTPError`, `DiscordAPIError`, a reset connection) hands over to the next one, so an answer that is ready
 * reaches the user whenever Discord takes any of them. Throws the last error when every route failed.
 */
export async function deliver(routes: readonly DeliveryRoute[], log: Logger): Promise<string> {
  const failed: string[] = [];
  let last: unknown = new Error('no route to deliver the message');
  for (const route of routes) {
    try {
      await route.send();
      if (failed.length > 0) log.warn({ route: route.name, failed }, 'answer delivered by a fallback route');
      return route.name;
    } catch (err) {
      last = err;
      failed.push(route.name);
      log.warn({ err, route: route.name }, 'could not deliver the answer by this route');
    }
  }
  throw last;
}

/** `<@id>` before a fallback message posted in a guild channel, where it no longer replies to anything. */
export function addressed<T extends { content?: string }>(payload: T, userId: string): T {
  return { ...payload, content: `<@${userId}> ${payload.content ?? ''}`.trimEnd() };
}
