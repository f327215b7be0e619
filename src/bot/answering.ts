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
