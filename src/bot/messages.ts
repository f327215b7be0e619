import type { Message } from 'discord.js';
import { detectLanguage } from '../rag/text/language.js';
import { addressed, deliver, prepareAnswer, refusalMessage, type DeliveryRoute } from './answering.js';
import type { BotContext } from './context.js';
import { newErrorId } from './dispatch.js';
import { languageOfLocale, t } from './i18n.js';
import type { PartialAnswer } from '../rag/service.js';
import { NO_MENTIONS, renderPartial } from './render.js';
import { createEditThrottle } from './throttle.js';

/** The typing indicator lasts about 10 seconds; it is renewed while an answer is being prepared. */
const TYPING_RENEW_MS = 8000;

function stripBotMention(content: string, botId: string): string {
  return content
    .replace(new RegExp(`<@!?${botId}>`, 'g'), ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Answers a guild message that mentions the bot (as a reply to it) and every direct message (with the recent turns
 * of that conversation, so « et Amazon ? » is a follow-up). Other messages are ignored, and so are bots.
 */
export function createMessageHandler(ctx: BotContext, botUserId: () => string | undefined) {
  return async (message: Message): Promise<void> => {
    const botId = botUserId();
    if (!botId || message.author.bot || message.author.id === botId) return;
    const inDm = message.channel.isDMBased();
    if (!inDm && !message.mentions.users.has(botId)) return;
    const log = ctx.logger.child({
      messageId: message.id,
      channel: inDm ? 'dm' : 'mention',
      guildId: message.guildId,
      userId: message.author.id,
    });
    const question = stripBotMention(message.content, botId);
    const hint = message.guild ? languageOfLocale(message.guild.preferredLocale) : undefined;
    const language = detectLanguage(question) ?? hint ?? 'fr';
    const started = performance.now();
    let typing: NodeJS.Timeout | undefined;
    try {
      if (question === '') {
        await message.reply({ content: t(language).emptyQuestion, allowedMentions: NO_MENTIONS });
        return;
      }
      const admission = ctx.limiter.tryAcquire(message.author.id);
      if (admission.kind !== 'admitted') {
        await message.reply({ content: refusalMessage(admission, language), allowedMentions: NO_MENTIONS });
        return;
      }
      try {
        const channel = message.channel;
        if ('sendTyping' in channel) {
          await channel.sendTyping().catch(() => undefined);
          typing = setInterval(() => void channel.sendTyping().catch(() => undefined), TYPING_RENEW_MS);
        }
        let answerMessage =
          admission.position > 0
            ? await message
                .reply({ content: t(language).queued(admission.position), allowedMentions: NO_MENTIONS })
                .catch((err: unknown) => {
                  log.warn({ err }, 'could not show the queue position');
                  return undefined;
                })
            : undefined;
        await admission.ready;
        const context = inDm ? ctx.conversations.context(message.author.id) : [];
        const stream = createEditThrottle(
          async (partial: PartialAnswer) => {
            const payload = { content: '', ...renderPartial(partial), allowedMentions: NO_MENTIONS };
            answerMessage = answerMessage ? await answerMessage.edit(payload) : await message.reply(payload);
          },
          ctx.settings.streamEditIntervalMs,
          (err) => log.warn({ err }, 'streaming edit failed'),
        );
        const { result, pages } = await prepareAnswer(ctx, question, {
          userId: message.author.id,
          guildId: message.guildId,
          language: hint,
          context,
          onProgress: (partial) => stream.push(partial),
        }).finally(() => stream.finish());
        if (inDm && result.kind !== 'rejected') ctx.conversations.remember(message.author.id, question);
        const [first, ...rest] = pages;
        if (first) {
          const payload = {
            content: first.content ?? '',
            embeds: first.embeds,
            components: first.components,
            allowedMentions: NO_MENTIONS,
          };
          // The message showing the queue position or a partial answer, replaced if it cannot be edited.
          const shown = answerMessage;
          const dropShown = async () => {
            await shown?.delete().catch(() => undefined);
          };
          const routes: DeliveryRoute[] = [
            ...(shown ? [{ name: 'edit', send: () => shown.edit(payload) }] : []),
            {
              name: 'reply',
              send: async () => {
                await message.reply(payload);
                await dropShown();
              },
            },
          ];
          const channel = message.channel;
          if (channel.isSendable())
            routes.push({
              name: 'channel',
              send: async () => {
                await channel.send(inDm ? payload : addressed(payload, message.author.id));
                await dropShown();
              },
            });
          await deliver(routes, log);
        }
        for (const page of rest)
          if (message.channel.isSendable())
            await message.channel.send({ ...page, allowedMentions: NO_MENTIONS });
        log.info(
          { durationMs: Math.round(performance.now() - started), kind: result.kind },
          'message answered',
        );
      } finally {
        admission.release();
      }
    } catch (err) {
      const errorId = newErrorId();
      log.error({ err, errorId }, 'message handling failed');
      await message
        .reply({ content: t(language).error(errorId), allowedMentions: NO_MENTIONS })
        .catch(() => undefined);
    } finally {
      if (typing) clearInterval(typing);
    }
  };
}
